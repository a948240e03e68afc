import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(120)", sys.argv[1] + "-child"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
print("ready", os.environ.get("HOME"), flush=True)
time.sleep(120)
