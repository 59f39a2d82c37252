"""Question 3.c, in Python: SIGCHLD beyond a child's death.

Run by `deno task experiment:sigchld-variants --python`; each mode prints one line:

    python3 sigchld_variants.py stop-continue  # "stopped <SIGCHLDs> <signal>", "continued ..."
    python3 sigchld_variants.py merged 5       # "merged <deaths> <SIGCHLDs> <reaped>"
    python3 sigchld_variants.py ignored        # "ignored <the child in /proc> <waitpid's answer>"
    python3 sigchld_variants.py default        # the same with SIGCHLD left as it is: a zombie
"""

import os
import signal
import sys
import time

received = []


def count(signum, frame):
    received.append(signum)


def wait_for(n, seconds=3):
    start = time.monotonic()
    while len(received) < n and time.monotonic() - start < seconds:
        time.sleep(0.001)


def stop_continue():
    signal.signal(signal.SIGCHLD, count)
    pid = os.posix_spawnp("sleep", ["sleep", "10"], os.environ)
    os.kill(pid, signal.SIGSTOP)
    _, status = os.waitpid(pid, os.WUNTRACED)  # reports a stop, not only an exit
    wait_for(1)
    how = signal.Signals(os.WSTOPSIG(status)).name if os.WIFSTOPPED(status) else "?"
    print(f"stopped {len(received)} {how}", flush=True)
    received.clear()
    os.kill(pid, signal.SIGCONT)
    _, status = os.waitpid(pid, os.WCONTINUED)  # reports a continue
    wait_for(1)
    how = "WIFCONTINUED" if os.WIFCONTINUED(status) else "?"
    print(f"continued {len(received)} {how}", flush=True)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def merged(n):
    signal.signal(signal.SIGCHLD, count)
    # SIGCHLD blocked while the children die: the kernel keeps one pending, however many die.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    for _ in range(n):
        os.posix_spawnp("sleep", ["sleep", "0.1"], os.environ)
    time.sleep(0.6)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    wait_for(1)
    # So a handler reaps in a loop, until no child is left to reap.
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped += 1
    print(f"merged {n} {len(received)} {reaped}", flush=True)


def unwaited(mode):
    if mode == "ignored":
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children itself
    pid = os.posix_spawnp("true", ["true"], os.environ)
    for _ in range(300):  # until it has exited: a zombie, or gone
        if seen_in_proc(pid) != "running":
            break
        time.sleep(0.001)
    seen = seen_in_proc(pid)  # before waitpid, which would reap a zombie
    try:
        answer = "status" if os.waitpid(pid, os.WNOHANG)[0] == pid else "running"
    except ChildProcessError:
        answer = "ECHILD"
    print(f"{mode} {seen} {answer}", flush=True)


def seen_in_proc(pid):
    """What /proc/<pid>/stat says of the child: "zombie" (state Z), "running", or "gone"."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"
    return "zombie" if state == "Z" else "running"


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "stop-continue":
        stop_continue()
    elif mode == "merged":
        merged(int(sys.argv[2]))
    elif mode in ("ignored", "default"):
        unwaited(mode)
    else:
        sys.exit(f"unknown mode {mode}")
