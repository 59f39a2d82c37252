"""A named pipe's open and its end of file, in Python.

Run by `deno task experiment:fifo-open --python`:

    python3 fifo_open.py fifo-reader FIFO       # opens (blocks until a writer comes), reads to EOF
    python3 fifo_open.py fifo-writer FIFO LINE  # opens (blocks until a reader comes), waits for a
                                                # line on stdin, writes LINE, closes
"""

import sys


def reader(path):
    print("opening", flush=True)
    with open(path) as pipe:  # blocks until a writer opens the other end
        print("opened", flush=True)
        for line in pipe:  # ends at EOF: once the last writer has closed its end
            print(f"read {line.strip()}", flush=True)
    print("EOF", flush=True)


def writer(path, line):
    print("opening", flush=True)
    with open(path, "w") as pipe:  # blocks until a reader opens the other end
        print("opened", flush=True)
        sys.stdin.readline()
        pipe.write(line + "\n")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "fifo-reader":
        reader(sys.argv[2])
    elif mode == "fifo-writer":
        writer(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown mode {mode}")
