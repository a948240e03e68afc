for t in A["targets"]:
    attempt("wr:" + t, open_for_write_only, t)
