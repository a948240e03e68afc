put("gethostname", socket.gethostname())
put("nodename", os.uname().nodename)
attempt("proc_hostname", lambda: read_head("/proc/sys/kernel/hostname").strip())
