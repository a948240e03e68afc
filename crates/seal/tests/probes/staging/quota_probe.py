out = A["out"]
total = 0
for i in range(3):
    attempt("real%d" % i, write, os.path.join(out, "real%d.bin" % i), os.urandom(300 * 1024))
    total += os.stat(os.path.join(out, "real%d.bin" % i)).st_size
os.makedirs(os.path.join(out, "sub"))
for i in range(3):
    p = os.path.join(out, "sub" if i == 0 else "", "sparse%d.bin" % i)
    def sp():
        with open(p, "wb") as f:
            f.truncate(300 * 1024)
    attempt("sparse%d" % i, sp)
    total += os.stat(p).st_size
put("total", total)
put("done", "yes")
sys.exit(A["exit"])
