put("affinity", len(os.sched_getaffinity(0)))
for i in range(2):
    if os.fork() == 0:
        while True:
            pass
put("spinning", "yes")
while True:
    pass
