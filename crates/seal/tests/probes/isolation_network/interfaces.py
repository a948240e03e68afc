put("ifaces", ",".join(sorted(n for _, n in socket.if_nameindex())))
def proc_net_dev():
    with open("/proc/net/dev") as f:
        lines = f.read().splitlines()[2:]
    return ",".join(sorted(l.split(":")[0].strip() for l in lines))
attempt("proc_net_dev", proc_net_dev)
