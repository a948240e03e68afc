NRS = {"x86_64": dict(bpf=321, perf_event_open=298, userfaultfd=323),
       "aarch64": dict(bpf=280, perf_event_open=241, userfaultfd=282)}[platform.machine()]
def raw(name, *args):
    ctypes.set_errno(0)
    return cres(LIBC.syscall(ctypes.c_long(NRS[name]), *args))
put("bpf", raw("bpf", ctypes.c_long(-1), None, 0))
attr = ctypes.create_string_buffer(128)
put("perf_event_open", raw("perf_event_open", attr, 0, -1, -1, 0))
put("userfaultfd", raw("userfaultfd", 0))
def vsock():
    socket.socket(40, socket.SOCK_STREAM).close()
attempt("vsock", vsock)
