put("uid", str(os.getuid()))
attempt("proc", lambda: read_head("/proc/self/status", 5))
put("ran", A.get("nonce", "yes"))
