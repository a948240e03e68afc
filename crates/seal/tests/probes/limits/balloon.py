put("ready", "yes")
# One 2 GiB allocation, then 2 GiB in touched 64 MiB pieces.
try:
    big = bytearray(2 * 2**30)
    big[::4096] = b"\x01" * len(range(0, len(big), 4096))
    put("big", "ALLOCATED")
    del big
except MemoryError:
    put("big", "MemoryError")
chunks = []
put("allocated_mib", 0)
try:
    while len(chunks) < 32:
        chunks.append(b"\x01" * (64 * 2**20))
        put("allocated_mib", 64 * len(chunks))
    put("chunks", "ALLOCATED")
except MemoryError:
    put("chunks", "MemoryError")
del chunks
put("done", "yes")
