out = A["out"]
ob = out.encode()
def J(*p):
    return os.path.join(out, *p)

def legit():
    write(J("result.txt"), A["text"])
    os.makedirs(J("nested", "deeper"))
    write(J("nested", "deeper", "data.csv"), A["csv"])
    os.makedirs(J("bin"))
    with open(A["in_file"], "rb") as f:
        data = f.read()
    write(J("bin", "blob.bin"), data)
attempt("legit", legit)

# Links: out of DIR (absolute, relative, nested relative, to a directory), and inside DIR.
attempt("link_canary", os.symlink, A["canary"], J("canary_link"))
attempt("link_passwd", os.symlink, "/etc/passwd", J("passwd_link"))
attempt("link_rel_escape", os.symlink, "../../ESCAPE-" + A["nonce"], J("rel_escape"))
os.makedirs(J("sub"))
attempt("link_rel_escape_nested", os.symlink, "../../ESCAPE2-" + A["nonce"],
        J("sub", "rel_escape_nested"))
attempt("link_dir", os.symlink, os.path.dirname(A["canary"]), J("dir_link"))
attempt("link_internal", os.symlink, "result.txt", J("internal_link"))
attempt("link_internal_up", os.symlink, "../result.txt", J("nested", "internal_up"))

# Hard links: from a read-only input and from the project (other mounts), and a pair inside.
attempt("hardlink_from_in", os.link, A["in_file"], J("hl_from_in"))
attempt("hardlink_from_project", os.link, A["proj_file"], J("hl_from_project"))
attempt("hardlink_pair", os.link, J("result.txt"), J("hl_pair"))

# Special files.
attempt("fifo", os.mkfifo, J("fifo"))
def sock():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.getcwd()
    os.chdir(out)
    try:
        s.bind("sock")
    finally:
        os.chdir(cwd)
attempt("socket", sock)
if not A.get("control"):
    attempt("mknod", os.mknod, J("devnode"), stat.S_IFCHR | 0o666, os.makedev(1, 3))

# Modes.
MODES = {"exec.sh": 0o755, "suid.bin": 0o6755, "sgid.bin": 0o2755, "sticky.bin": 0o1755,
         "private.txt": 0o640, "readonly.txt": 0o444, "userexec.bin": 0o710}
for name, mode in MODES.items():
    attempt("mode_" + name, write, J(name), "#!/bin/sh\necho " + name + "\n", mode)
    put("modeis_" + name, "%o" % stat.S_IMODE(os.stat(J(name)).st_mode))
def weird_dir():
    os.mkdir(J("weird_dir"))
    write(J("weird_dir", "inside.txt"), "in a weird dir")
    os.chmod(J("weird_dir"), 0o1777)
attempt("weird_dir", weird_dir)

# Names a terminal or a script could be fooled by.
for key, name in [("name_newline", b"nl\nname.txt"), ("name_esc", b"esc\x1b[2Jname.txt"),
                  ("name_badutf8", b"bad\xffname.txt")]:
    attempt(key, write, os.path.join(ob, name), b"bad name")

# A 10 GiB sparse file.
def sparse():
    with open(J("huge.sparse"), "wb") as f:
        f.truncate(A["sparse"])
    return os.stat(J("huge.sparse")).st_size
attempt("sparse", sparse)

# Inputs are read-only.
attempt("in_write", lambda: open(A["in_file"], "ab").close())
put("done", "yes")
