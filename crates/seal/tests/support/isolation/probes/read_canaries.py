for rel in A["files"]:
    attempt("tilde:" + rel, read_head, os.path.expanduser("~/" + rel))
    attempt("abs:" + rel, read_head, os.path.join(A["host_home"], rel))
