put("ready", "yes")
end = time.monotonic() + A["secs"]
while time.monotonic() < end:
    pass
put("done", "yes")
