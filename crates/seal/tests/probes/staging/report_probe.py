out = A["out"]
attempt("keep", write, os.path.join(out, "keep.txt"), "NEW")
attempt("new", write, os.path.join(out, "new.txt"), "NEW FILE")
attempt("link", os.symlink, "new.txt", os.path.join(out, "keep_link"))
put("done", "yes")
