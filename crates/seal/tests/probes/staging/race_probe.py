out = A["out"]
pid = os.fork()
if pid == 0:
    p = os.path.join(out, "race")
    i = 0
    while True:
        # Atomic replacement: "race" always exists, alternately a file and a link out.
        if i % 2:
            tmp = os.path.join(out, "tmp_link")
            os.symlink(A["canary"], tmp)
        else:
            tmp = os.path.join(out, "tmp_file")
            write(tmp, "regular")
        os.rename(tmp, p)
        i += 1
        if i % 500 == 0:
            put("child", i)
time.sleep(0.5)
put("parent", "exits")
os._exit(0)
