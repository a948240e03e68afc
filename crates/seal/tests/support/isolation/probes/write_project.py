p = A["project"]
existing = os.path.join(p, "existing.txt")
def create():
    path = os.path.join(p, "created-" + A["nonce"])
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.unlink(path)
attempt("create", create)
def append_existing():
    fd = os.open(existing, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"tampered\n")
    finally:
        os.close(fd)
attempt("append_existing", append_existing)
def mkdir():
    d = os.path.join(p, "dir-" + A["nonce"])
    os.mkdir(d)
    os.rmdir(d)
attempt("mkdir", mkdir)
def rename():
    os.rename(existing, existing + ".moved")
    os.rename(existing + ".moved", existing)
attempt("rename", rename)
def git_hook():
    with open(os.path.join(p, ".git", "hooks", "pre-commit"), "w") as f:
        f.write("#!/bin/sh\necho hooked\n")
attempt("git_hook", git_hook)
attempt("chmod", os.chmod, existing, 0o666)
