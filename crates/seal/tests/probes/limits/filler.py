dirs = [("tmp", "/tmp"), ("home", os.environ["HOME"]), ("shm", "/dev/shm"), ("copy", A["copy"])]
chunk = b"\xab" * 2**20
for key, d in dirs:
    p = os.path.join(d, "fill-" + A["nonce"])
    n = 0
    err = "none"
    try:
        with open(p, "wb") as f:
            while n < 4096:
                f.write(chunk)
                f.flush()
                n += 1
    except OSError as e:
        err = ename(e)
    put("written:" + key, os.stat(p).st_size if os.path.exists(p) else 0)
    put("error:" + key, err)
put("done", "yes")
