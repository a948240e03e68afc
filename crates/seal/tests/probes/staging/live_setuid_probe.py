live = A["live"]
p = os.path.join(live, "planted")
attempt("copy", write, p, open(A["exe"], "rb").read(), 0o755)
attempt("chmod_setuid", os.chmod, p, 0o6755)
put("mode", "%o" % stat.S_IMODE(os.stat(p).st_mode))
put("done", "yes")
