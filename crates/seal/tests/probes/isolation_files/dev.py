attempt("ls_dev", lambda: ",".join(sorted(os.listdir("/dev"))))
for d in ["/dev/kmsg", "/dev/mem", "/dev/kvm", "/dev/sda", "/dev/vda", "/dev/loop0", "/dev/fuse"]:
    attempt("open:" + d, lambda d=d: os.close(os.open(d, os.O_RDONLY | os.O_NONBLOCK)))
attempt("devnull", lambda: open("/dev/null", "w").write("x") and None)
attempt("urandom", lambda: len(open("/dev/urandom", "rb").read(8)))
