out = A["out"]
n = 0
err = "none"
for i in range(20):
    try:
        write(os.path.join(out, "f%02d.txt" % i), "file %d" % i)
        n += 1
    except OSError as e:
        err = ename(e)
put("created", n)
put("error", err)
put("done", "yes")
