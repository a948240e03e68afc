import fcntl, termios
put("stdin_isatty", "yes" if os.isatty(0) else "no")
attempt("tiocsti_ctty", lambda: fcntl.ioctl(0, termios.TIOCSTI, b"#") and None)
