"""The upload benchmarks' floor: a bare TCP server doing only the work every upload must do.

One request per connection, no HTTP framework and no multipart parsing: the body is received into a
pool of buffers and, in two helper threads, sha256-hashed and written (hashlib and os.write release
the GIL, so this runs at C speed on separate cores), then fsynced and renamed into place. Whatever
an upload server adds on top of this, it cannot go faster: ``floor / cp`` in bench/upload.py is the
highest ratio any server can reach on the machine it runs on.
"""

from __future__ import annotations

import hashlib
import os
import queue
import socket
import threading
from pathlib import Path

FLOOR_CHUNK = 1 << 20
FLOOR_BUFFERS = 8


def _floor_receive(conn: socket.socket, target: Path) -> str:
    """Receive one HTTP request body into ``target`` (hash + write in helper threads); return the sha256."""
    head = b""
    while b"\r\n\r\n" not in head:
        got = conn.recv(65536)
        if not got:
            raise ConnectionError("client closed before the headers ended")
        head += got
    head, _, first = head.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(FLOOR_BUFFERS):
        free.put(bytearray(FLOOR_CHUNK))
    to_hash: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
    to_write: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
    users: dict[int, int] = {}
    lock = threading.Lock()
    hasher = hashlib.sha256(first)
    temp = target.with_name(".floor.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, first)

    def done_with(buf: bytearray) -> None:
        with lock:
            users[id(buf)] -= 1
            if not users[id(buf)]:
                free.put(buf)

    def hash_loop() -> None:
        while (item := to_hash.get()) is not None:
            hasher.update(memoryview(item[0])[: item[1]])
            done_with(item[0])

    def write_loop() -> None:
        while (item := to_write.get()) is not None:
            view = memoryview(item[0])[: item[1]]
            while view:
                view = view[os.write(fd, view):]
            done_with(item[0])

    helpers = [threading.Thread(target=hash_loop), threading.Thread(target=write_loop)]
    for t in helpers:
        t.start()
    received = len(first)
    try:
        while received < length:
            buf = free.get()
            view = memoryview(buf)
            filled = 0
            while filled < FLOOR_CHUNK and received + filled < length:
                n = conn.recv_into(view[filled:], min(FLOOR_CHUNK - filled, length - received - filled))
                if not n:
                    raise ConnectionError("client closed mid-body")
                filled += n
            received += filled
            with lock:
                users[id(buf)] = 2
            to_hash.put((buf, filled))
            to_write.put((buf, filled))
    finally:
        to_hash.put(None)
        to_write.put(None)
        for t in helpers:
            t.join()
    os.fsync(fd)
    os.close(fd)
    os.replace(temp, target)
    return hasher.hexdigest()


def serve_floor(port: int, dest: Path) -> None:
    """The floor contender: a bare TCP server, one request per connection, no HTTP framework."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                digest = _floor_receive(conn, dest / "floor.bin").encode()
            except (ConnectionError, StopIteration, ValueError):
                continue  # e.g. the start-up probe, which connects and closes
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n{\"sha256\": \"%s\"}" % (len(digest) + 14, digest))


if __name__ == "__main__":
    print("bench/upload_floor.py is the floor server of bench/upload.py and bench/upload_api.py; run those")
