d = A["copy"]
put("sees_original", open(os.path.join(d, "a.txt")).read())
attempt("modify", write, os.path.join(d, "a.txt"), "MODIFIED")
attempt("create", write, os.path.join(d, "new.txt"), "NEW")
attempt("delete", os.unlink, os.path.join(d, "sub", "b.txt"))
put("ready", "yes")
go = os.path.join(A["sig"], "go")
deadline = time.time() + 90
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.02)
put("go_seen", str(os.path.exists(go)))
put("after_a", open(os.path.join(d, "a.txt")).read())
put("after_late", str(os.path.exists(os.path.join(d, "late.txt"))))
put("done", "yes")
