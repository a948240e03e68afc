pid = A["host_pid"]
attempt("ls_proc", lambda: len(os.listdir("/proc")))
def secret_in(name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        data = f.read()
    return "canary" if b"CANARY-" in data or A["marker"].encode() in data else "clean"
attempt("host_environ", secret_in, "environ")
attempt("host_cmdline", secret_in, "cmdline")
attempt("host_mem", lambda: os.close(os.open("/proc/%d/mem" % pid, os.O_RDONLY)))
attempt("host_status", read_head, "/proc/%d/status" % pid)
attempt("init_environ", read_head, "/proc/1/environ")
attempt("self_environ", read_head, "/proc/self/environ")
