put("payload_ran", "yes")
put("payload_uid", str(os.getuid()))
def canary_in(path):
    return "canary" if "CANARY-" in read_head(path) else "clean"
attempt("payload_read_ssh_host_path", canary_in, os.path.join(A["host_home"], ".ssh/id_rsa"))
attempt("payload_read_ssh_tilde", canary_in, os.path.expanduser("~/.ssh/id_rsa"))
put("payload_env", "canary" if any("CANARY-" in v for v in os.environ.values()) else "clean")
def tcp():
    s = socket.create_connection(("127.0.0.1", A["port"]), timeout=3)
    s.sendall(("payload " + A["marker"]).encode())
    s.close()
attempt("payload_tcp", tcp)
put_privileges("payload_")
put("payload_keyctl", syscall("keyctl", 0, -3, 0))
