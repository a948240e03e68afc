PTRACE_SEIZE = 0x4206
LIBC.ptrace.restype = ctypes.c_long
def seize(pid):
    ctypes.set_errno(0)
    return cres(LIBC.ptrace(ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(pid), None, None))
# In a throwaway child: the trace ends when the child exits.
put("ptrace_host", in_child(lambda: seize(A["host_pid"])))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def vm_read(pid, addr):
    buf = ctypes.create_string_buffer(8)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
    remote = iovec(ctypes.c_void_p(addr), 8)
    ctypes.set_errno(0)
    r = LIBC.syscall(ctypes.c_long(NR["process_vm_readv"]), ctypes.c_long(pid),
                     ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote),
                     ctypes.c_ulong(1), ctypes.c_ulong(0))
    return cres(r)
put("vm_read_host", vm_read(A["host_pid"], A["host_addr"]))
# A process of the sandbox's own: refused by seccomp, not merely by a PID namespace.
r, w = os.pipe()
kid = os.fork()
if kid == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(0)
os.close(r)
put("ptrace_own_child", in_child(lambda: seize(kid)))
# The child is a fork: the same address is mapped in it.
put("vm_read_own_child", vm_read(kid, id(A)))
os.close(w)
os.waitpid(kid, 0)
