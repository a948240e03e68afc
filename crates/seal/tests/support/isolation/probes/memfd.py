with open(A["payload_file"]) as f:
    src = f.read()
def make():
    fd = os.memfd_create("payload", 0)
    with open(sys.executable, "rb") as f:
        os.write(fd, f.read())
    return fd
try:
    fd = make()
    put("memfd_create", "OK")
except OSError as e:
    fd = None
    put("memfd_create", ename(e))
if fd is not None:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["memfd-payload", "-I", "-S", "-c", src, sys.argv[1]], dict(os.environ))
        except OSError as e:
            sys.stdout.write("PROBE\tmemfd_exec\t%s\n" % ename(e))
            sys.stdout.flush()
        os._exit(111)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        put("memfd_exec", "OK")
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 111:
        pass  # the child reported the errno itself
    else:
        put("memfd_exec", "status %d" % status)
