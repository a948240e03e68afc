attempt("tcp", send_stream, socket.AF_INET, ("127.0.0.1", A["tcp_port"]))
attempt("udp", udp_exchange, ("127.0.0.1", A["udp_port"]))
