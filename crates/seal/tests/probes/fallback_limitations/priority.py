attempt("renice_host_sleeper", os.setpriority, os.PRIO_PROCESS, A["host_pid"], 19)
attempt("raise_host_sleeper", os.setpriority, os.PRIO_PROCESS, A["host_pid"], -5)
