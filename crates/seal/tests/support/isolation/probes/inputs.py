attempt("read_input", read_head, A["input"])
attempt("read_sibling", read_head, A["sibling"])
attempt("ls_parent", lambda: ",".join(sorted(os.listdir(os.path.dirname(A["input"])))))
