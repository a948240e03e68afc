key = os.path.join(A["host_home"], ".ssh/id_rsa")
attempt("stat_size", lambda: os.stat(key).st_size)
yes_no = lambda b: "yes" if b else "no"
put("exists_key", yes_no(os.path.exists(key)))
put("exists_missing", yes_no(os.path.exists(os.path.join(A["host_home"], ".ssh/id_ed25519"))))
attempt("readlink", os.readlink, A["link"])
attempt("read", read_head, key)
attempt("listdir", lambda: ",".join(os.listdir(os.path.join(A["host_home"], ".ssh"))))
