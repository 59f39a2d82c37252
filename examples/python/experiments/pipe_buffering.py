"""The notes on pipes, in Python: buffered writes, flush, and atomic writes up to PIPE_BUF.

Run by `deno task experiment:pipe-buffering --python`, which reads the named pipes:

    python3 pipe_buffering.py buffered-writer FIFO           # write, wait for a line, then flush
    python3 pipe_buffering.py bulk-writer FIFO A 4096 200    # 200 writes of 4096 bytes of "A"
"""

import os
import sys


def buffered_writer(path):
    pipe = open(path, "w")  # a file object: its writes wait in its buffer (in this process)
    pipe.write("hello through a buffered writer\n")
    print("written", flush=True)
    sys.stdin.readline()
    pipe.flush()  # now the bytes reach the pipe, and the reader
    pipe.close()
    print("flushed", flush=True)


def bulk_writer(path, letter, size, count):
    fd = os.open(path, os.O_WRONLY)  # no buffer: each os.write() is one write(2)
    print("open", flush=True)
    sys.stdin.readline()
    message = letter.encode() * size
    for _ in range(count):
        done = 0
        while done < size:
            done += os.write(fd, message[done:])
    os.close(fd)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "buffered-writer":
        buffered_writer(sys.argv[2])
    elif mode == "bulk-writer":
        bulk_writer(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(f"unknown mode {mode}")
