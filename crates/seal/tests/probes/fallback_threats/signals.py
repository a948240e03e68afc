import fcntl
# SIGIO to the second sleeper through a pipe it "owns": its default action ends it.
def sigio():
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETOWN, A["sigio_pid"])
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
    os.write(w, b"x")
attempt("sigio_host_sleeper", sigio)
attempt("pidfd_kill_host_sleeper", lambda: signal.pidfd_send_signal(os.pidfd_open(A["host_pid"]), signal.SIGKILL))
attempt("kill_host_sleeper", os.kill, A["host_pid"], signal.SIGKILL)
attempt("probe_host_sleeper", os.kill, A["host_pid"], 0)
# Signals within the sandbox still work.
kid = os.fork()
if kid == 0:
    time.sleep(60)
    os._exit(0)
attempt("kill_own_child", os.kill, kid, signal.SIGKILL)
os.waitpid(kid, 0)
if A["inside"]:
    # A process of the run that would outlive it (its command line, the probe's, carries the
    # test's marker): whatever happens to the keeper, it must not survive the run.
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    # The keeper (the program's parent) kills every descendant when the program ends: the
    # program must not be able to kill it first. Last, and the results so far printed first:
    # where the kill succeeds seal kills this process too, at once.
    emit()
    _R.clear()
    if attempt("kill_keeper", os.kill, os.getppid(), signal.SIGKILL) == "OK":
        time.sleep(30)  # an orphan now, which seal kills
