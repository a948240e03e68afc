out = A["out"]
pat = bytes(range(256)) * 256
with open(os.path.join(out, "complete.bin"), "wb") as f:
    for i in range(16):
        f.write(pat)
put("complete", "done")
f = open(os.path.join(out, "growing.bin"), "wb")
n = 0
while True:
    if n < 64 * 2**20:
        f.write(pat)
        f.flush()
        n += len(pat)
        put("growing", n)
    time.sleep(0.01 if n >= 4 * 2**20 else 0)
