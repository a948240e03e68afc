attempt("project_socket", send_stream, socket.AF_UNIX, A["project_socket"])
attempt("outside_socket", send_stream, socket.AF_UNIX, A["outside_socket"])
attempt("abstract", send_stream, socket.AF_UNIX, "\0" + A["abstract"])
