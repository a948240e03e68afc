needle = bytes.fromhex(A["needle_hex"])
host_pid = A["host_pid"]
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
put("pid_count", len(pids))
put("host_pid_visible", "yes" if os.path.exists("/proc/%d" % host_pid) else "no")
def host_environ():
    with open("/proc/%d/environ" % host_pid, "rb") as f:
        data = f.read()
    return "canary" if b"CANARY-" in data else "clean"
attempt("host_environ", host_environ)
leaks = []
for p in pids:
    for name in ("environ", "cmdline"):
        try:
            with open("/proc/%d/%s" % (p, name), "rb") as f:
                data = f.read()
        except OSError:
            continue
        if needle in data or (name == "environ" and b"CANARY-" in data):
            leaks.append("%d/%s" % (p, name))
put("leaks", ",".join(leaks))
def init_environ():
    with open("/proc/1/environ", "rb") as f:
        data = f.read()
    return "readable:canary" if b"CANARY-" in data else "readable:clean"
attempt("init_environ", init_environ)
attempt("host_mem", lambda: os.close(os.open("/proc/%d/mem" % host_pid, os.O_RDONLY)))
