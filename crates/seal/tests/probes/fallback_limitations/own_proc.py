attempt("self_status", read_head, "/proc/self/status")
attempt("cpuinfo", read_head, "/proc/cpuinfo")
attempt("cpu_count", lambda: os.cpu_count() and "OK")
