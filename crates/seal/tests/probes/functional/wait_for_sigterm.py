import os, signal, sys, time
def handler(sig, frame):
    os.write(1, b"got SIGTERM\n")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
if sys.argv[1] == "handler":
    signal.signal(signal.SIGTERM, handler)
print("ready", flush=True)
time.sleep(60)
print("not interrupted", flush=True)
