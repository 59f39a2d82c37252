"""Question 1.a, in Python: a shared memory segment between unrelated processes, and the trap of
`multiprocessing.shared_memory` in a process that only attaches.

Run by `deno task experiment:shared-memory --python`:

    python3 shared_memory.py shm-create NAME      # creates NAME, writes b"hello", says "created";
                                                  # on a line on stdin, unlinks it
    python3 shared_memory.py shm-read NAME hold   # attaches, says "read hello", waits (to crash)
    python3 shared_memory.py shm-read NAME exit   # attaches, says "read hello", exits
    python3 shared_memory.py shm-read NAME track  # the same through SharedMemory(NAME): the trap
"""

import mmap
import os
import sys
from multiprocessing import resource_tracker, shared_memory


def create(name):
    segment = shared_memory.SharedMemory(name, create=True, size=4096)
    segment.buf[:5] = b"hello"
    print("created", flush=True)
    sys.stdin.readline()
    segment.close()
    try:
        segment.unlink()  # the creator removes it: it lasts until someone does
        print("unlinked", flush=True)
    except FileNotFoundError:
        # Someone else's resource tracker removed it; this one need not try again at exit.
        resource_tracker.unregister(segment._name, "shared_memory")
        print("already gone", flush=True)


def read(name, how):
    if how == "track":
        # Python <= 3.12 (and 3.13 by default): this process's resource tracker registers the
        # segment and unlinks it when the process exits, although this process only attached.
        segment = shared_memory.SharedMemory(name)
        print(f"read {bytes(segment.buf[:5]).decode()}", flush=True)
        segment.close()
        return
    # Avoided: map the segment's file in /dev/shm directly (or call
    # resource_tracker.unregister(segment._name, "shared_memory"); or track=False in 3.13).
    fd = os.open(f"/dev/shm/{name}", os.O_RDWR)
    view = mmap.mmap(fd, 4096)
    os.close(fd)
    print(f"read {view[:5].decode()}", flush=True)
    if how == "hold":
        sys.stdin.readline()
    view.close()


if __name__ == "__main__":
    mode, name = sys.argv[1], sys.argv[2]
    if mode == "shm-create":
        create(name)
    elif mode == "shm-read":
        read(name, sys.argv[3])
    else:
        sys.exit(f"unknown mode {mode}")
