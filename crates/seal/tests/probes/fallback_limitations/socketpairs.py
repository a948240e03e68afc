attempt("unix_dgram_pair", lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) and None)
def stream_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.sendall(b"pong")
    return b.recv(4).decode()
attempt("unix_stream_pair", stream_pair)
