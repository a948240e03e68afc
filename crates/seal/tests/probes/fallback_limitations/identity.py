put("uid", str(os.getuid()))
put("gid", str(os.getgid()))
put("euid", str(os.geteuid()))
put("hostname", socket.gethostname())
