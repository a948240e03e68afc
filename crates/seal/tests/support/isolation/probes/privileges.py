PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS = 21, 39
class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]
def put_privileges(prefix=""):
    put(prefix + "no_new_privs", str(LIBC.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)))
    put(prefix + "seccomp_mode", str(LIBC.prctl(PR_GET_SECCOMP, 0, 0, 0, 0)))
    hdr = CapHeader(0x20080522, 0)
    data = (CapData * 2)()
    if LIBC.capget(ctypes.byref(hdr), data) == 0:
        put(prefix + "cap_eff", "%08x%08x" % (data[1].effective, data[0].effective))
        put(prefix + "cap_prm", "%08x%08x" % (data[1].permitted, data[0].permitted))
