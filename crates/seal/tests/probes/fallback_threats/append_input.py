attempt("append_input", lambda: open(A["input"], "a").close())
