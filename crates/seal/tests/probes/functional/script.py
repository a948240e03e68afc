import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "exe": sys.executable}))
