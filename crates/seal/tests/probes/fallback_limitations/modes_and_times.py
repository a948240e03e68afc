attempt("chmod_outside", os.chmod, A["outside"], 0o644)
def chmod_own_file():
    path = os.path.join(A["live"], "script.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, 0o755)
    return oct(os.stat(path).st_mode & 0o777)
attempt("chmod_own_file", chmod_own_file)
attempt("utime_outside", os.utime, A["outside"], (1000000000, 1000000000))
