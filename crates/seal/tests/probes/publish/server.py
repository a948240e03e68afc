import http.server, os, socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
    print("HOST-LOOPBACK OK", flush=True)
except OSError as e:
    print("HOST-LOOPBACK REFUSED", type(e).__name__, flush=True)
handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=os.getcwd(), **k)
http.server.ThreadingHTTPServer(("127.0.0.1", 8000), handler).serve_forever()
