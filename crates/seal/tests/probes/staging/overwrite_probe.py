out = A["out"]
def J(*p):
    return os.path.join(out, *p)
put("staging_empty", str(sorted(os.listdir(out)) == []))
attempt("keep", write, J("keep.txt"), "NEW")
attempt("new", write, J("new.txt"), "NEW FILE")
os.makedirs(J("olddir"))
attempt("olddir_old", write, J("olddir", "old.txt"), "REPLACED")
attempt("olddir_added", write, J("olddir", "added.txt"), "ADDED")
os.makedirs(J("trapdir"))
attempt("trapdir_payload", write, J("trapdir", "payload.txt"), "PAYLOAD")
attempt("trapfile", write, J("trapfile"), "TRAP")
put("done", "yes")
