put("ready", "yes")
time.sleep(1.5)
pids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        try:
            b = b"\x01" * (200 * 2**20)
            put("filled%d" % i, "yes")
            time.sleep(3)
            os._exit(0)
        except MemoryError:
            os._exit(3)
    pids.append(pid)
survivors = killed = refused = 0
for pid in pids:
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        killed += 1
    elif os.WEXITSTATUS(st) == 3:
        refused += 1
    else:
        survivors += 1
put("survivors", survivors)
put("killed", killed)
put("refused", refused)
put("done", "yes")
