out = A["out"]
def J(*p):
    return os.path.join(out, *p)
MODES = {"exec.sh": 0o755, "suid.bin": 0o6755, "sgid.bin": 0o2755, "sticky.bin": 0o1755,
         "private.txt": 0o640, "userexec.bin": 0o710}
for name, mode in MODES.items():
    attempt("mode_" + name, write, J(name), "content of " + name, mode)
    put("modeis_" + name, "%o" % stat.S_IMODE(os.stat(J(name)).st_mode))
attempt("link_internal", os.symlink, "exec.sh", J("internal_link"))
os.mkdir(J("d"))
attempt("link_internal_up", os.symlink, "../exec.sh", J("d", "up"))
put("done", "yes")
