def ls(p):
    return ",".join(sorted(os.listdir(p)))
attempt("ls:/home", ls, "/home")
attempt("ls:/root", ls, "/root")
attempt("ls:host_home", ls, A["host_home"])
def walk(top):
    found = []
    base = top.rstrip("/").count("/")
    for dp, dns, fns in os.walk(top):
        if dp.startswith(A["project"]) or dp.count("/") - base >= 3 or len(found) > 50:
            dns[:] = []
            continue
        found.extend(os.path.join(dp, f) for f in fns)
    return ",".join(sorted(found)[:50])
put("files:/home", walk("/home"))
put("files:/root", walk("/root"))
put("files:host_home", walk(A["host_home"]))
