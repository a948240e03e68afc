attempt("tcp", send_stream, socket.AF_INET, ("127.0.0.1", int(A["tcp_port"])))
