"""Question 3.b, in Python: ordering a frozen worker through its own pipe does nothing; a watchdog
needs a heartbeat and signals.

Run by `deno task experiment:frozen-pipe --python`, which freezes the worker (SIGSTOP) and reads
what these print:

    python3 frozen_pipe.py watchdog FIFO SEGMENT TIMEOUT_MS  # starts a worker, restarts it when
                                                             # its heartbeat is TIMEOUT_MS old
    python3 frozen_pipe.py worker FIFO SEGMENT     # says ready, reads orders, beats every 100 ms
    python3 frozen_pipe.py writer FIFO LINE        # one more writer of the worker's pipe
"""

import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import time

BEAT = struct.Struct("d")  # the worker's last beat: time.monotonic(), in the shared segment


def worker(fifo, segment):
    fd = os.open(segment, os.O_RDWR)
    beat = mmap.mmap(fd, BEAT.size)
    os.close(fd)
    orders = os.open(fifo, os.O_RDWR)  # read and write: no EOF when a writer leaves
    print("ready", flush=True)
    pending = b""
    while True:
        BEAT.pack_into(beat, 0, time.monotonic())  # from the loop: a frozen loop stops beating
        if select.select([orders], [], [], 0.1)[0]:
            pending += os.read(orders, 4096)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                print(f"read {line.decode()}", flush=True)


def start_worker(fifo, segment):
    here = os.path.abspath(__file__)
    return subprocess.Popen([sys.executable, "-u", here, "worker", fifo, segment])


def watchdog(fifo, segment, timeout_ms):
    with open(segment, "wb") as f:  # the segment: a file in /dev/shm, mapped by both
        f.write(bytes(BEAT.size))
    fd = os.open(segment, os.O_RDWR)
    beat = mmap.mmap(fd, BEAT.size)
    os.close(fd)
    BEAT.pack_into(beat, 0, time.monotonic())
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    child = start_worker(fifo, segment)
    print(f"worker {child.pid}", flush=True)
    while not stopping:
        time.sleep(0.05)
        late = time.monotonic() - BEAT.unpack_from(beat, 0)[0]
        if late * 1000 > timeout_ms:
            # Frozen: it cannot read an order, so it is ended by signals. A stopped process
            # cannot act on SIGTERM: SIGKILL follows.
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(0.5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            old = child.pid
            BEAT.pack_into(beat, 0, time.monotonic())
            child = start_worker(fifo, segment)
            print(f"restarted {old} {child.pid} {late * 1000:.0f}", flush=True)
    child.kill()
    child.wait()
    os.unlink(segment)


def writer(fifo, line):
    with open(fifo, "w") as pipe:
        pipe.write(line + "\n")


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "watchdog":
        watchdog(args[0], args[1], int(args[2]))
    elif mode == "worker":
        worker(args[0], args[1])
    elif mode == "writer":
        writer(args[0], args[1])
    else:
        sys.exit(f"unknown mode {mode}")
