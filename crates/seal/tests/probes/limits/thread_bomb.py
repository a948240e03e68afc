import threading
ev = threading.Event()
n = 0
err = "none"
while n < A.get("max", 5000):
    try:
        t = threading.Thread(target=ev.wait, daemon=True)
        t.start()
    except Exception as e:
        err = "%s:%s" % (type(e).__name__, e)
        break
    n += 1
put("threads", n)
put("error", err)
ev.set()
put("done", "yes")
