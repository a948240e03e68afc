# What hwloc-, OpenMP- and distro-aware libraries read: the CPU numbering under
# /sys/devices/system/cpu and /etc/os-release, readable and read-only; nothing else of /sys.
def first_line(path):
    with open(path) as f:
        return f.readline().strip()
def write(path):
    with open(path, "w"):
        pass
cpu = "/sys/devices/system/cpu"
for name in ["online", "possible", "present"]:
    attempt(name, first_line, os.path.join(cpu, name))
attempt("sys", lambda: ",".join(sorted(os.listdir("/sys"))))
attempt("os_release", first_line, "/etc/os-release")
attempt("write_online", write, os.path.join(cpu, "online"))
