import fcntl, termios
TIOCLINUX = 0x541C
def inject():
    m, s = os.openpty()
    def child():
        os.setsid()
        fcntl.ioctl(s, termios.TIOCSCTTY, 0)
        fcntl.ioctl(s, termios.TIOCSTI, b"x")
    return in_child(child)
put("tiocsti_own_pty", inject())
def linux():
    m, s = os.openpty()
    fcntl.ioctl(s, TIOCLINUX, b"\x00" * 8)
attempt("tioclinux", linux)
