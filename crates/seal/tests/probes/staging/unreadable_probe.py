out = A["out"]
attempt("result", write, os.path.join(out, "result.txt"), "important result")
attempt("locked_file", write, os.path.join(out, "locked.txt"), "locked", 0)
def locked_dir():
    d = os.path.join(out, "lockeddir")
    os.mkdir(d)
    write(os.path.join(d, "inner.txt"), "inner")
    os.chmod(d, 0)
attempt("locked_dir", locked_dir)
def wonly_dir():
    d = os.path.join(out, "writeonlydir")
    os.mkdir(d)
    write(os.path.join(d, "inner.txt"), "inner")
    os.chmod(d, 0o300)
attempt("wonly_dir", wonly_dir)
put("done", "yes")
