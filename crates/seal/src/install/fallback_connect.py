# seal's connection shim for the fetch sandbox of the Landlock + seccomp fallback (no user
# namespaces, so no network namespace and no listener inside): socket() is refused there, and
# the only way out is descriptor 3, a Unix SOCK_SEQPACKET channel to seal. For each byte sent
# on it, seal answers with one Unix stream socket (SCM_RIGHTS) whose other end is a client of
# seal's index proxy, the same proxy and policy as in the namespace mode. Standard library
# only; runs with the base interpreter.
#
# This replaces the two functions that open connections (socket.create_connection, used by
# http.client and so urllib.request, and the copy in pip's vendored urllib3) with one that
# asks the channel, then runs the real program. The address asked for is ignored: every
# connection is to the proxy (the program is told a placeholder proxy URL), so a CONNECT
# tunnel carries TLS end to end, and the proxy decides what may be reached.
#
# usage: fallback_connect.py -m MODULE ARGS...   (e.g. -m pip download ...)
#        fallback_connect.py SCRIPT ARGS...
import os
import runpy
import socket
import sys
import threading

CHANNEL_FD = 3
_channel = socket.socket(fileno=CHANNEL_FD)
# Subprocesses have no business with the channel.
os.set_inheritable(CHANNEL_FD, False)
_lock = threading.Lock()
_FD_SIZE = 4


class ProxyStream(socket.socket):
    """A Unix stream to the proxy that accepts the TCP options callers set on connections."""

    def setsockopt(self, level, *args):
        if level == socket.IPPROTO_TCP:
            return None
        return super().setsockopt(level, *args)


def _receive_stream():
    # One request, one answer; seal answers a message without a descriptor when it could not
    # make a stream.
    with _lock:
        _channel.send(b"c")
        _, ancdata, _, _ = _channel.recvmsg(
            1, socket.CMSG_SPACE(_FD_SIZE), socket.MSG_CMSG_CLOEXEC)
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(data) >= _FD_SIZE:
            return int.from_bytes(data[:_FD_SIZE], sys.byteorder)
    raise ConnectionRefusedError("seal: the index proxy gave no connection")


def create_connection(address=None, timeout=socket._GLOBAL_DEFAULT_TIMEOUT,
                      source_address=None, *args, **kwargs):
    sock = ProxyStream(fileno=_receive_stream())
    if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
        sock.settimeout(timeout)
    return sock


def _patch():
    socket.create_connection = create_connection
    try:
        from pip._vendor.urllib3.util import connection
    except ImportError:
        return
    connection.create_connection = create_connection


def main():
    if len(sys.argv) < 2 or (sys.argv[1] == "-m" and len(sys.argv) < 3):
        sys.exit("usage: fallback_connect.py -m MODULE ARGS... | SCRIPT ARGS...")
    _patch()
    if sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module] + sys.argv[3:]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
