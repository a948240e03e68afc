path = "/tmp/seal-probe-" + A["nonce"]
def write():
    with open(path, "w") as f:
        f.write("from the probe")
attempt("write_tmp", write)
attempt("ls_tmp", lambda: ",".join(sorted(os.listdir("/tmp"))))
put("tmpdir", os.environ.get("TMPDIR", "unset"))
