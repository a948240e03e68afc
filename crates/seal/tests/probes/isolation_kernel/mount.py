CLONE_NEWUSER, CLONE_NEWNS, MNT_DETACH = 0x10000000, 0x00020000, 2
os.makedirs(A["target"], exist_ok=True)
target = A["target"].encode()
def try_mount():
    # A private user+mount namespace first, so that even a successful mount (positive
    # control) never shows on the host; if that is refused, a mount that still succeeded is
    # undone at once.
    ctypes.set_errno(0)
    private = LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0
    ctypes.set_errno(0)
    r = LIBC.mount(b"tmpfs", target, b"tmpfs", ctypes.c_ulong(0), None)
    res = cres(r)
    if r == 0 and not private:
        LIBC.umount2(target, MNT_DETACH)
    return res
put("mount", in_child(try_mount))
def try_fsopen():
    ctypes.set_errno(0)
    LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    ctypes.set_errno(0)
    return cres(LIBC.syscall(ctypes.c_long(430), b"tmpfs", 0))
put("fsopen", in_child(try_fsopen))
