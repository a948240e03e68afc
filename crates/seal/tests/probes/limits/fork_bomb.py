n = 0
err = "none"
while n < A.get("max", 3000):
    try:
        pid = os.fork()
    except OSError as e:
        err = ename(e)
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    n += 1
put("forked", n)
put("error", err)
put("done", "yes")
