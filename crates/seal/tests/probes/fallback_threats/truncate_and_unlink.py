attempt("truncate", os.truncate, existing, 0)
attempt("unlink", os.unlink, os.path.join(p, "keep.txt"))
