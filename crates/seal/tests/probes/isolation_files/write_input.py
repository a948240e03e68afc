def create_in_input():
    path = os.path.join(A["input_dir"], "created-" + A["nonce"])
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.unlink(path)
attempt("create_in_input", create_in_input)
attempt("append_input", lambda: open(os.path.join(A["input_dir"], "data.txt"), "a").close())
