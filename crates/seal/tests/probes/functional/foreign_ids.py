# chown and set*id to ids the sandbox does not map: EPERM, as for an ordinary user on a normal
# host (the kernel alone would answer EINVAL).
import subprocess
import tempfile

fd, path = tempfile.mkstemp()
os.close(fd)
attempt("chown_other_uid", os.chown, path, 65534, -1)
attempt("chown_other_gid", os.chown, path, -1, 65534)
attempt("chown_root", os.chown, path, 0, 0)
attempt("chown_unchanged", os.chown, path, -1, -1)
attempt("chown_own", os.chown, path, os.getuid(), os.getgid())
attempt("popen_user", lambda: subprocess.run(["true"], user=65534, check=True) and None)
attempt("popen_group", lambda: subprocess.run(["true"], group=65534, check=True) and None)
attempt("setuid_root", os.setuid, 0)
attempt("setresgid_other", os.setresgid, -1, 65534, -1)
attempt("setuid_own", os.setuid, os.getuid())
