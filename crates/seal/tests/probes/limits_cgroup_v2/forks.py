r, w = os.pipe()
n = 0
err = "none"
while n < 1000:
    try:
        pid = os.fork()
    except OSError as e:
        err = ename(e)
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    n += 1
put("forked", n)
put("error", err)
os.close(w)
for _ in range(n):
    os.wait()
put("done", "yes")
