import subprocess, sys, threading
r = subprocess.run(["python3", "-c", "print(6 * 7)"], capture_output=True, text=True)
print("python3:", r.returncode, r.stdout.strip())
r = subprocess.run([sys.executable, "-c", "import os; print(os.getcwd())"], capture_output=True, text=True)
print("executable:", r.returncode, r.stdout.strip())
r = subprocess.run("echo $HOME", shell=True, capture_output=True, text=True)
print("shell:", r.returncode, r.stdout.strip())
results = [0] * 16
def work(i):
    results[i] = sum(range(10000 * (i + 1)))
threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads:", sum(results))
