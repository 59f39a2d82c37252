"""Question 3.c, in Python: a parent is told of its child's death by SIGCHLD.

Run by `deno task experiment:sigchld --python`:

    python3 sigchld.py sigchld-parent 200  # prints "SIGCHLD <ms>" then "exit <code>"
"""

import signal
import subprocess
import sys
import time

if __name__ == "__main__":
    if sys.argv[1] != "sigchld-parent":
        sys.exit(f"unknown mode {sys.argv[1]}")
    ms = int(sys.argv[2])
    arrived = []
    # The handler runs in the main thread, between two bytecodes, as soon as the signal is here.
    signal.signal(signal.SIGCHLD, lambda signum, frame: arrived.append(time.monotonic()))
    start = time.monotonic()
    child = subprocess.Popen(["sleep", str(ms / 1000)])
    while not arrived and time.monotonic() - start < 3:
        time.sleep(0.001)
    if arrived:
        print(f"SIGCHLD {(arrived[0] - start) * 1000:.0f}", flush=True)
    print(f"exit {child.wait()}", flush=True)
