import os, sys, tempfile, time
token, out = sys.argv[1], sys.argv[2]
home, tmp = os.environ["HOME"], tempfile.gettempdir()
mine = "mine-" + token
for d in (home, tmp):
    with open(os.path.join(d, mine), "w") as f:
        f.write(token)
if out != "-":
    with open(os.path.join(out, token + ".txt"), "w") as f:
        f.write(token)
# Overlap with the runs starting (and sweeping) meanwhile.
time.sleep(0.4)
for d in (home, tmp):
    with open(os.path.join(d, mine)) as f:
        if f.read() != token:
            print("BAD content in", d)
    others = sorted(n for n in os.listdir(d) if n.startswith("mine-") and n != mine)
    if others:
        print("SHARED", d, others)
print("home=" + home)
print("done " + token)
