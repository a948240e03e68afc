d = A["share"]
def create_setuid():
    path = os.path.join(d, "created-setuid")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o4755))
attempt("create_setuid", create_setuid)
f = os.path.join(d, "tool")
attempt("chmod_setuid", os.chmod, f, 0o4755)
attempt("chmod_setgid", os.chmod, f, 0o2755)
attempt("chmod_world_writable", os.chmod, f, 0o757)
