# What hwloc-, OpenMP- and distro-aware libraries read: the CPU numbering under
# /sys/devices/system/cpu and /etc/os-release, readable and read-only; nothing else of /sys.
import errno
import os


def result(f):
    try:
        return "OK:" + f()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def write(path):
    with open(path, "w"):
        pass
    return "written"


cpu = "/sys/devices/system/cpu"
for name in ["online", "possible", "present"]:
    print(f"{name}={result(lambda: open(os.path.join(cpu, name)).read().strip())}")
print(f"sys={result(lambda: ','.join(sorted(os.listdir('/sys'))))}")
print(f"cpu_dir={result(lambda: ','.join(sorted(os.listdir(cpu))))}")
print(f"os_release={result(lambda: open('/etc/os-release').readline().strip())}")
print(f"write_online={result(lambda: write(os.path.join(cpu, 'online')))}")
