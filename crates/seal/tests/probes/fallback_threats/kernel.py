import resource
put_privileges()
put("rlimit_core", "%d,%d" % resource.getrlimit(resource.RLIMIT_CORE))
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
def unshare(flags):
    ctypes.set_errno(0)
    return cres(LIBC.unshare(flags))
# Net alone needs no user namespace as root: refused by seal's filter, not the wrapper's.
put("unshare_newnet", in_child(lambda: unshare(CLONE_NEWNET)))
