import errno, json, os, socket, stat, sys, time
A = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
def ename(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, "E%d" % e.errno)
    return "EXC:%s:%s" % (type(e).__name__, e)
def esc(v):
    s = v if isinstance(v, str) else json.dumps(v)
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
def put(k, v):
    sys.stdout.write("PROBE\t%s\t%s\n" % (k, esc(v)))
    sys.stdout.flush()
def attempt(k, fn, *args):
    try:
        v = fn(*args)
        v = "OK" if v is None else v
    except Exception as e:
        v = ename(e)
    put(k, v)
    return v
def write(path, data, mode=None):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)
