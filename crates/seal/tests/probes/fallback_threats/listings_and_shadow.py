attempt("ls_host_home", lambda: ",".join(sorted(os.listdir(A["host_home"]))))
attempt("ls_ssh", lambda: ",".join(sorted(os.listdir(os.path.join(A["host_home"], ".ssh")))))
attempt("etc_shadow", lambda: read_head("/etc/shadow", 1) and "readable")
