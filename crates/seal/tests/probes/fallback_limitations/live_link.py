def make():
    os.symlink(A["target"], os.path.join(A["live"], "planted-link"))
attempt("plant_link", make)
