"""Question 2.b, in Python: a zombie, then an orphan.

Run by `deno task experiment:zombie --python`, which watches these processes in /proc:

    python3 zombie.py zombie-parent 1500  # a child that exits at once stays a zombie until wait()
    python3 zombie.py orphan-parent 0.4   # a child that outlives its parent is orphaned, adopted
"""

import subprocess
import sys
import time


def zombie_parent(ms):
    child = subprocess.Popen(["true"])
    print(f"child {child.pid}", flush=True)
    # Busy elsewhere: nobody calls wait(), so the exited child stays a zombie (state Z).
    time.sleep(ms / 1000)
    child.wait()  # waitpid(): the zombie is reaped, gone from /proc
    print("reaped", flush=True)


def orphan_parent(seconds):
    child = subprocess.Popen(["sleep", seconds])
    print(f"child {child.pid}", flush=True)
    # Leaves without waiting: the child is re-parented (to init, or the nearest subreaper).
    sys.exit(0)


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "zombie-parent":
        zombie_parent(int(arg))
    elif mode == "orphan-parent":
        orphan_parent(arg)
    else:
        sys.exit(f"unknown mode {mode}")
