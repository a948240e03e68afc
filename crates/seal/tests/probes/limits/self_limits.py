def limit(name):
    with open("/proc/self/limits") as f:
        for line in f:
            if line.startswith(name):
                return line[len(name):].split()[0]
    return "missing"
put("rlimit_data", limit("Max data size"))
put("rlimit_nproc", limit("Max processes"))
put("affinity", len(os.sched_getaffinity(0)))
try:
    put("pid_max", open("/proc/sys/kernel/pid_max").read().strip())
except OSError as e:
    put("pid_max", ename(e))
for d in ["/tmp", os.environ.get("HOME", "/nonexistent"), "/dev/shm"]:
    try:
        s = os.statvfs(d)
        put("fs_size:" + d, s.f_blocks * s.f_frsize)
    except OSError as e:
        put("fs_size:" + d, ename(e))
