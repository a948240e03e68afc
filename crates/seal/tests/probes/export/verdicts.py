# What a run may reach: the same answers inside `seal run` and inside the exported script.
attempt("read_canary", read_head, os.path.join(A["home"], A["canary"]))
def tcp():
    s = socket.create_connection(("127.0.0.1", int(A["sink"])), timeout=3)
    s.close()
attempt("tcp_host_loopback", tcp)
def write_project():
    open(os.path.join(A["project"], "written-" + A["nonce"]), "w").close()
attempt("write_project", write_project)
put("uid", str(os.getuid()))
put("home", os.path.expanduser("~"))
put("cpus", str(len(os.sched_getaffinity(0))))
