put("ready", "yes")
kids = []
for i in range(A["n"]):
    pid = os.fork()
    if pid == 0:
        try:
            b = bytearray(A["mib"] * 2**20)
            b[::4096] = b"\x01" * len(range(0, len(b), 4096))
        except MemoryError:
            os._exit(3)
        time.sleep(4)
        os._exit(0)
    kids.append(pid)
ok = 0
for k in kids:
    _, st = os.waitpid(k, 0)
    ok += os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
put("ok", ok)
put("done", "yes")
