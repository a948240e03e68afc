import multiprocessing
attempt("ls_dev_shm", lambda: ",".join(os.listdir("/dev/shm")))
attempt("lock", lambda: multiprocessing.Lock() and None)
attempt("pool", lambda: multiprocessing.Pool(2).close())
def shm_file():
    path = "/dev/shm/seal-fbdoc-" + A["nonce"]
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.unlink(path)
attempt("shm_file", shm_file)
