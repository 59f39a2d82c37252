"""PIPE_BUF versus a pipe's capacity, in Python, and a writer blocked by a full pipe.

Run by `deno task experiment:pipe-capacity --python`, which opens the FIFO to read, and reads
only once the writer is blocked:

    python3 pipe_capacity.py full-writer FIFO 100000  # prints the two sizes, then writes 100000
                                                      # bytes at once, then "wrote 100000"
"""

import fcntl
import os
import sys

if __name__ == "__main__":
    if sys.argv[1] != "full-writer":
        sys.exit(f"unknown mode {sys.argv[1]}")
    path, size = sys.argv[2], int(sys.argv[3])
    fd = os.open(path, os.O_WRONLY)  # blocks until the reader opens the other end
    # PIPE_BUF: writes up to this size are atomic. The capacity: what the pipe holds.
    print(f"PIPE_BUF {os.fpathconf(fd, 'PC_PIPE_BUF')}", flush=True)
    print(f"capacity {fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)}", flush=True)
    # One write of more than the capacity: it blocks, in the kernel, until the reader makes room.
    written = os.write(fd, b"x" * size)
    print(f"wrote {written}", flush=True)
    os.close(fd)
