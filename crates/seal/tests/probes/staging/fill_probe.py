out = A["out"]
n = 0
err = "none"
for i in range(10):
    try:
        write(os.path.join(out, "f%02d.bin" % i), os.urandom(300 * 1024))
        n += 1
    except OSError as e:
        err = ename(e)
        break
put("written", n)
put("error", err)
put("done", "yes")
