for k, v in os.environ.items():
    put("env:" + k, "HAS-CANARY" if "CANARY-" in v else v)
for n in A["names"]:
    put("get:" + n, "HAS-CANARY" if "CANARY-" in os.environ.get(n, "") else os.environ.get(n, "absent"))
