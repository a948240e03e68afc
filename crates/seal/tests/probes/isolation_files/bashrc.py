rc = os.path.expanduser("~/.bashrc")
put("home", os.path.expanduser("~"))
attempt("read_before", read_head, rc)
def append():
    with open(rc, "a") as f:
        f.write("echo persisted-" + A["nonce"] + "\n")
attempt("append", append)
attempt("read_after", read_head, rc)
attempt("append_host_path", lambda: open(os.path.join(A["host_home"], ".bashrc"), "a").close())
