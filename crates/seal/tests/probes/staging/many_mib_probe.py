out = A["out"]
for i in range(A["n"]):
    write(os.path.join(out, "part%04d.bin" % i), (b"%08d" % i) * (2**20 // 8))
put("done", "yes")
