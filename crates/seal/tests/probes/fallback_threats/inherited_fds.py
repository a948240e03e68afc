fd = A["fd"]
def read_fd():
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode()
attempt("inherited_fd", read_fd)
leaks = []
for n in range(3, 256):
    try:
        os.lseek(n, 0, os.SEEK_SET)
        if b"CANARY-" in os.read(n, 4096):
            leaks.append(str(n))
    except OSError:
        pass
put("leaks", ",".join(leaks))
