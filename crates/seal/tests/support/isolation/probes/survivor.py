marker_file = os.path.join(A["out"], "survivor-" + A["nonce"])
code = "import sys, time; time.sleep(2); open(sys.argv[1], 'w').write('survived')"
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", code, marker_file, A["marker"]])
    os._exit(0)
os.waitpid(pid, 0)
put("spawned", "OK")
