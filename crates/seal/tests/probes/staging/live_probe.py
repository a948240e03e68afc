live = A["live"]
def J(*p):
    return os.path.join(live, *p)
attempt("write", write, J("target.txt"), "T")
attempt("mk_rel", os.symlink, "target.txt", J("rel_link"))
attempt("mk_abs", os.symlink, "/etc/hostname", J("abs_link"))
attempt("open_rel", lambda: open(J("rel_link")).read())
attempt("open_abs", lambda: open(J("abs_link")).read())
attempt("readlink", os.readlink, J("rel_link"))
put("done", "yes")
