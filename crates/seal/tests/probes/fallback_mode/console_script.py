#!/seal/env/bin/python
import os, sys
try:
    open(sys.argv[1]).read()
    key = "readable"
except OSError as e:
    key = e.strerror
print("hello", os.getuid(), sys.prefix, sys.argv[2:], key)
