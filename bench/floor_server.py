"""The Python side of `bench floors`: the same two servers as floor_server.ts, with one
single-threaded selectors loop, as examples/python/server.py serves. Prints `ready <port>`.

Usage: python3 floor_server.py connection|kept
"""

import selectors
import socket
import sys

REPLY = b"OK floor\n"


def main():
    kept = sys.argv[1] == "kept"
    selector = selectors.DefaultSelector()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.setblocking(False)

    def readable(conn):
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.send(REPLY)
        if not data or not kept:
            selector.unregister(conn)
            conn.close()

    def accept(_):
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ, readable)

    selector.register(listener, selectors.EVENT_READ, accept)
    print(f"ready {listener.getsockname()[1]}", flush=True)
    while True:
        for key, _ in selector.select():
            key.data(key.fileobj)


if __name__ == "__main__":
    main()
