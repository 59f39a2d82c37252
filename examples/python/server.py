#!/usr/bin/env python3
"""The course project in plain Python: a supervisor, a dispatcher and N workers.

The way a student of the course would write it, standard library only: os.fork for the
processes, mmap on a file of /dev/shm for the shared segment, os.mkfifo for the named pipes, one
single-threaded `selectors` loop per process (no thread per request, no polling sleep), and the
signals handled in that loop (signal.set_wakeup_fd). It speaks the contract of osps's
docs/protocol.md, in its three stages:

  python3 server.py --port 2222 --stage ideal --workers 3

  relay                           the dispatcher answers OK <result>, through the worker's mailbox
  client-calls-worker (ideal)     REDIRECT <host> <port>: the client calls the worker
  worker-calls-client             LISTEN <port> first; WAIT <token>: the worker calls the client

The supervisor (the first process) creates a runtime directory (0700) with two pipes per worker
(dwtube<k> orders, wdtube<k> answers) and the segment (0600: a slot per role, with its pid, its
heartbeat and its port, and a mailbox per worker), forks the dispatcher and the workers, restarts
any that dies or stops beating for a second, and on SIGTERM or SIGINT stops the dispatcher, then
the workers, reaps them all and removes what it created.

--broken NAME makes it wrong in one way, for `deno task check` to catch:
  leave-zombie     at the stop, the children are told to stop but never reaped
  leave-ipc        at the stop, the pipes, the segment and the directory are left behind
  lose-inflight    a request in flight on a worker that dies is never answered
  wrong-primes     one prime count in 97 is off by one
  orphan-workers   the workers outlive the supervisor
  no-restart       a worker that dies (or freezes) is never started again
"""

import argparse
import errno
import heapq
import itertools
import mmap
import os
import selectors
import signal
import socket
import struct
import sys
import time

MAX_LINE = 4096
MAX_N = 10_000_000
HEARTBEAT_S = 0.1
FROZEN_S = 1.0
CLAIM_TIMEOUT_S = 5.0
GRACE_S = 3.0

STAGES = {
    "relay": "relay",
    "ideal": "client-calls-worker",
    "client-calls-worker": "client-calls-worker",
    "worker-calls-client": "worker-calls-client",
}
BROKEN = ("leave-zombie", "leave-ipc", "lose-inflight", "wrong-primes", "orphan-workers", "no-restart")

# The segment: a header, a slot per role (0 the supervisor, 1 the dispatcher, 1 + k worker k),
# a mailbox per worker.
SLOT = struct.Struct("<IIdI4x")  # pid, generation, heartbeat (monotonic s), port
MAILBOX_HEADER = struct.Struct("<QI4x")  # request id, payload length
MAILBOX_PAYLOAD = 8192
HEADER_SIZE = 64


def layout(workers):
    slots = HEADER_SIZE
    mailboxes = slots + (workers + 2) * SLOT.size
    size = mailboxes + workers * (MAILBOX_HEADER.size + MAILBOX_PAYLOAD)
    return slots, mailboxes, size


class Segment:
    """The shared segment, mapped; every process maps the same file of /dev/shm."""

    def __init__(self, path, workers, create):
        self.path = path
        self.slots, self.mailboxes, size = layout(workers)
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        if create:
            os.ftruncate(fd, size)
        self.map = mmap.mmap(fd, size)
        os.close(fd)

    def slot(self, index):
        return SLOT.unpack_from(self.map, self.slots + index * SLOT.size)

    def set_slot(self, index, pid=None, generation=None, heartbeat=None, port=None):
        old = self.slot(index)
        values = [v if v is not None else o for v, o in zip((pid, generation, heartbeat, port), old)]
        SLOT.pack_into(self.map, self.slots + index * SLOT.size, *values)

    def write_mailbox(self, k, request_id, text):
        data = text.encode()
        at = self.mailboxes + (k - 1) * (MAILBOX_HEADER.size + MAILBOX_PAYLOAD)
        self.map[at + MAILBOX_HEADER.size:at + MAILBOX_HEADER.size + len(data)] = data
        MAILBOX_HEADER.pack_into(self.map, at, request_id, len(data))

    def read_mailbox(self, k):
        at = self.mailboxes + (k - 1) * (MAILBOX_HEADER.size + MAILBOX_PAYLOAD)
        request_id, length = MAILBOX_HEADER.unpack_from(self.map, at)
        length = min(length, MAILBOX_PAYLOAD)
        start = at + MAILBOX_HEADER.size
        return request_id, bytes(self.map[start:start + length]).decode(errors="replace")


# ---------------------------------------------------------------- the requests

_sieve = bytearray(b"\x00\x00")
_prime_requests = 0


def count_primes(n, broken):
    global _sieve, _prime_requests
    if n >= len(_sieve):
        size = max(n + 1, 2 * len(_sieve))
        size = min(size, MAX_N + 1)
        sieve = bytearray([1]) * size
        sieve[0:2] = b"\x00\x00"
        for i in range(2, int(size ** 0.5) + 1):
            if sieve[i]:
                sieve[i * i::i] = bytes(len(range(i * i, size, i)))
        _sieve = sieve
    _prime_requests += 1
    result = _sieve.count(1, 0, n + 1)
    if broken == "wrong-primes" and _prime_requests % 97 == 50:
        result += 1
    return result


def check_line(line, stage):
    """What a line asks: ("request", line), ("quit",), ("listen", port) or ("error", reply)."""
    if line == "QUIT":
        return ("quit",)
    kind, _, payload = line.partition(" ")
    if kind == "requetetype1":
        return ("request", line)
    if kind == "requetetype2":
        if payload.isascii() and payload.isdigit() and len(payload) <= 20 and int(payload) <= MAX_N:
            return ("request", line)
        return ("error", f"ERR bad-argument requetetype2 takes n, decimal digits only, 0 <= n <= {MAX_N}")
    if kind == "LISTEN":
        if stage != "worker-calls-client":
            return ("error", "ERR unknown-request LISTEN is for the worker-calls-client stage only")
        if payload.isascii() and payload.isdigit() and len(payload) <= 5 and 1 <= int(payload) <= 65535:
            return ("listen", int(payload))
        return ("error", "ERR bad-argument LISTEN takes a TCP port, 1 to 65535")
    if line == "":
        return ("error", "ERR unknown-request empty request")
    return ("error", f"ERR unknown-request unknown request type {kind[:40]!r}")


def answer(line, broken):
    kind, _, payload = line.partition(" ")
    if kind == "requetetype1":
        return f"OK {payload}" if payload else "OK"
    if kind == "requetetype2":
        return f"OK {count_primes(int(payload), broken)}"
    return "ERR unknown-request not a request"


def receive(sock, size=8192):
    """What a readable socket holds: b"" at its end or on an error, None if nothing yet."""
    try:
        return sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


NOT_YET = object()  # what Lines.read_from gives while no whole line has come


class Lines:
    """A connection's bytes, cut into lines (at most MAX_LINE bytes with the LF)."""

    def __init__(self):
        self.buffer = b""
        self.eof = False

    def feed(self, data):
        if data:
            self.buffer += data
        else:
            self.eof = True

    def next(self):
        """A line (str), "too-long", "invalid", or None if no whole line is there yet."""
        at = self.buffer.find(b"\n")
        if at < 0:
            if len(self.buffer) >= MAX_LINE:
                return "too-long"
            if not self.eof or not self.buffer:
                return None
            at = len(self.buffer)  # a last line without its LF, ended by the close
        if at + 1 > MAX_LINE:
            return "too-long"
        raw, self.buffer = self.buffer[:at], self.buffer[at + 1:]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            return ("line", raw.decode("utf-8"))
        except UnicodeDecodeError:
            return "invalid"

    def read_from(self, sock):
        """Reads what the readable sock holds: its next line as next() gives it (None at the
        end of the connection), or NOT_YET while no whole line has come."""
        data = receive(sock)
        if data is None:
            return NOT_YET
        self.feed(data)
        got = self.next()
        return NOT_YET if got is None and not self.eof else got


# ---------------------------------------------------------------- a process's loop


class Loop:
    """One selectors loop, its signals (through a wakeup pipe) and its heartbeat."""

    def __init__(self, signals):
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for s in signals:
            signal.signal(s, lambda *_: None)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.signals = []
        self.timers = []
        self.timer_ids = itertools.count()

    def add_timer(self, when, action):
        # A heap: the next one due is first, whatever the number waiting (one per call).
        heapq.heappush(self.timers, (when, next(self.timer_ids), action))

    def run_once(self, timeout):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            heapq.heappop(self.timers)[2]()
        if self.timers:
            timeout = max(0, min(timeout, self.timers[0][0] - now))
        for key, mask in self.selector.select(timeout):
            if key.fileobj == self.wake_r:
                try:
                    self.signals.extend(os.read(self.wake_r, 64))
                except BlockingIOError:
                    pass
            else:
                key.data(mask)


def child_setup(parent, stays):
    """In a forked child: default signal actions back, and leave when the supervisor is gone
    (unless it `stays`: the orphan-workers variant's workers)."""
    signal.set_wakeup_fd(-1)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(s, signal.SIG_DFL)

    def orphaned():
        return not stays and os.getppid() != parent

    return orphaned


# ---------------------------------------------------------------- the worker


def run_worker(k, args, segment, parent, runtime):
    orphaned = child_setup(parent, args.broken == "orphan-workers")
    loop = Loop([signal.SIGTERM])
    orders = os.open(f"{runtime}/dwtube{k}", os.O_RDWR | os.O_NONBLOCK)
    answers = os.open(f"{runtime}/wdtube{k}", os.O_RDWR | os.O_NONBLOCK)
    stage = args.stage
    port = 0
    listener = None
    if stage == "client-calls-worker":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, args.port + k))
        listener.listen(128)
        listener.setblocking(False)
        port = listener.getsockname()[1]
    segment.set_slot(1 + k, pid=os.getpid(), heartbeat=time.monotonic(), port=port)
    pending = b""
    claims = {}  # request id -> (line, since)
    stopping = False

    def pong(text):
        try:
            os.write(answers, (text + "\n").encode())
        except BlockingIOError:
            pass

    def serve_claim(conn):
        lines = Lines()

        def readable(_mask):
            got = lines.read_from(conn)
            if got is NOT_YET:
                return
            loop.selector.unregister(conn)
            take_orders()
            if got == "too-long":
                reply = "ERR line-too-long a line is at most 4096 bytes with its terminator"
            elif isinstance(got, tuple):
                match = [i for i, (line, _) in claims.items() if line == got[1]]
                if match:
                    reply = answer(got[1], args.broken)
                    del claims[match[0]]
                    pong(f"free {match[0]} served")
                else:
                    reply = "ERR unavailable this worker holds no such reservation"
            else:
                reply = None
            try:
                conn.setblocking(True)
                if reply:
                    conn.sendall((reply + "\n").encode())
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()

        loop.selector.register(conn, selectors.EVENT_READ, readable)

    def accept(_mask):
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        serve_claim(conn)

    def call_client(request_id, token, host, port, line):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            sock.close()
            pong(f"free {request_id} unreachable")
            return
        lines = Lines()
        state = {"phase": "connecting", "until": time.monotonic() + CLAIM_TIMEOUT_S}

        def done(outcome):
            try:
                loop.selector.unregister(sock)
            except KeyError:
                pass
            sock.close()
            pong(f"free {request_id} {outcome}")
            state["phase"] = "done"

        def event(mask):
            if state["phase"] == "connecting":
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    return done("unreachable")
                try:
                    sock.send(f"READY {token}\n".encode())
                except OSError:
                    return done("unreachable")
                state["phase"] = "reading"
                loop.selector.modify(sock, selectors.EVENT_READ, event)
                return
            got = lines.read_from(sock)
            if got is NOT_YET:
                return
            if isinstance(got, tuple) and got[1] == line:
                try:
                    sock.setblocking(True)
                    sock.sendall((answer(line, args.broken) + "\n").encode())
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return done("served")
            if isinstance(got, tuple):
                try:
                    sock.send(b"ERR unavailable not the request this worker was called for\n")
                except OSError:
                    pass
            done("mismatch" if got else "timeout")

        loop.selector.register(sock, selectors.EVENT_WRITE, event)
        loop.add_timer(state["until"], lambda: state["phase"] != "done" and done("timeout"))

    def carry_out(order):
        # "<kind> <request id> <worker pid>": an order for the worker this one replaces is left.
        words = order.split(" ")
        if len(words) != 3 or not words[1].isdigit() or words[2] != str(os.getpid()):
            return
        kind, request_id = words[0], int(words[1])
        seq, text = segment.read_mailbox(k)
        if seq != request_id:
            pong(f"fail {request_id} mailbox")
            return
        if kind == "job":
            segment.write_mailbox(k, request_id, answer(text, args.broken))
            pong(f"done {request_id}")
        elif kind == "claim":
            claims[request_id] = (text, time.monotonic())
        elif kind == "call":
            token, host, port, line = text.split(" ", 3)
            pong(f"calling {request_id}")
            call_client(request_id, token, host, int(port), line)

    def take_orders(_mask=None):
        nonlocal pending
        while True:
            try:
                data = os.read(orders, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            pending += data
        while b"\n" in pending:
            order, pending = pending.split(b"\n", 1)
            carry_out(order.decode(errors="replace"))

    loop.selector.register(orders, selectors.EVENT_READ, take_orders)
    if listener is not None:
        loop.selector.register(listener, selectors.EVENT_READ, accept)
    next_beat = 0.0
    while True:
        now = time.monotonic()
        if now >= next_beat:
            if orphaned():
                os._exit(3)
            segment.set_slot(1 + k, heartbeat=now)
            for request_id, (_, since) in list(claims.items()):
                if now - since > CLAIM_TIMEOUT_S:
                    del claims[request_id]
                    pong(f"free {request_id} timeout")
            next_beat = now + HEARTBEAT_S
        loop.run_once(max(0, next_beat - now))
        if signal.SIGTERM in loop.signals and not stopping:
            stopping = True
            os._exit(0)


# ---------------------------------------------------------------- the dispatcher


class Client:
    def __init__(self, sock, reached_on):
        self.sock = sock
        self.lines = Lines()
        self.out = b""
        self.busy = False  # a request of it is queued or in flight: its next line waits
        self.listen_port = None
        self.reached_on = reached_on
        self.closing = False


class Job:
    def __init__(self, request_id, line, client):
        self.id = request_id
        self.line = line
        self.client = client
        self.attempts = 0
        self.calling = False
        self.since = time.monotonic()


def run_dispatcher(args, segment, parent, runtime, generation):
    orphaned = child_setup(parent, False)
    loop = Loop([signal.SIGTERM])
    stage = args.stage
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(100):  # the port of the dispatcher this one replaces
        try:
            listener.bind((args.host, args.port))
            break
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            time.sleep(0.02)
    listener.listen(1024)
    listener.setblocking(False)
    segment.set_slot(1, pid=os.getpid(), heartbeat=time.monotonic(), port=listener.getsockname()[1])
    workers = range(1, args.workers + 1)
    orders = {k: os.open(f"{runtime}/dwtube{k}", os.O_RDWR | os.O_NONBLOCK) for k in workers}
    answers = {k: os.open(f"{runtime}/wdtube{k}", os.O_RDWR | os.O_NONBLOCK) for k in workers}
    pending = {k: b"" for k in workers}
    holding = {k: None for k in workers}  # the job each worker holds
    seen = {k: segment.slot(1 + k)[0] for k in workers}  # the worker pid last known
    queue = []
    clients = {}
    next_id = [generation * 1_000_000]
    stopping = [False]

    def send(client, text):
        client.out += (text + "\n").encode()
        flush(client)

    def flush(client):
        try:
            while client.out:
                n = client.sock.send(client.out)
                client.out = client.out[n:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            client.out = b""
        if client.closing and not client.out:
            close(client)
        elif client.sock.fileno() >= 0:
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
            loop.selector.modify(client.sock, mask, lambda m, c=client: client_event(c, m))

    def close(client):
        if client.sock.fileno() < 0:
            return
        try:
            loop.selector.unregister(client.sock)
        except KeyError:
            pass
        try:
            client.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        client.sock.close()
        clients.pop(id(client), None)

    def reply(job, text):
        send(job.client, text)
        job.client.busy = False
        next_line(job.client)

    def alive(k):
        pid, _, beat, port = segment.slot(1 + k)
        # A worker the clients call that has not written its port yet is still starting.
        starting = stage == "client-calls-worker" and port == 0
        return pid != 0 and pid == seen[k] and not starting and time.monotonic() - beat < FROZEN_S

    def pump():
        for k in workers:
            if not queue:
                return
            if holding[k] is None and alive(k):
                assign(queue.pop(0), k)

    def assign(job, k):
        holding[k] = job
        job.attempts += 1
        content = job.line
        if stage == "worker-calls-client":
            # The client hears its token before the worker is told to call it (once: a retry
            # keeps it); WAIT is the dispatcher's reply, the next line may come.
            token = f"p{os.getpid()}r{job.id}"
            host = job.client.sock.getpeername()[0]
            content = f"{token} {host} {job.client.listen_port} {job.line}"
            if job.attempts == 1:
                reply(job, f"WAIT {token}")
        segment.write_mailbox(k, job.id, content)
        kind = {"relay": "job", "client-calls-worker": "claim", "worker-calls-client": "call"}[stage]
        try:
            os.write(orders[k], f"{kind} {job.id} {seen[k]}\n".encode())
        except BlockingIOError:
            holding[k] = None
            queue.insert(0, job)
            return
        if stage == "client-calls-worker":
            port = segment.slot(1 + k)[3]
            reply(job, f"REDIRECT {job.client.reached_on} {port}")

    def lost(k):
        job = holding[k]
        holding[k] = None
        if job is None or args.broken == "lose-inflight":
            return
        if stage == "client-calls-worker" or job.calling:
            return  # the client was answered REDIRECT, or the worker may have answered it
        if job.attempts < 2 and not stopping[0]:
            queue.insert(0, job)
        elif stage == "relay":
            reply(job, "ERR unavailable the worker went away")

    def worker_answers(k):
        while True:
            try:
                data = os.read(answers[k], 65536)
            except BlockingIOError:
                break
            if not data:
                break
            pending[k] += data
        while b"\n" in pending[k]:
            line, pending[k] = pending[k].split(b"\n", 1)
            kind, _, rest = line.decode(errors="replace").partition(" ")
            request_id = int(rest.split(" ")[0]) if rest.split(" ")[0].isdigit() else -1
            job = holding[k]
            if job is None or job.id != request_id:
                continue
            if kind == "calling":
                job.calling = True
                continue
            holding[k] = None
            if kind == "done":
                seq, text = segment.read_mailbox(k)
                if seq == job.id and (text.startswith("OK") or text.startswith("ERR ")):
                    reply(job, text)
                else:
                    queue.insert(0, job)
            elif kind == "fail":
                queue.insert(0, job)
        pump()

    def handle(client, got):
        if got == "too-long":
            send(client, "ERR line-too-long a line is at most 4096 bytes with its terminator")
            client.closing = True
            flush(client)
            return
        if got == "invalid":
            send(client, "ERR bad-argument the line is not valid UTF-8")
            return
        what = check_line(got[1], stage)
        if what[0] == "quit":
            client.closing = True
            flush(client)
        elif what[0] == "error":
            send(client, what[1])
        elif what[0] == "listen":
            client.listen_port = what[1]
            send(client, "OK")
        elif stage == "worker-calls-client" and client.listen_port is None:
            send(client, "ERR bad-argument send LISTEN <port> first")
        elif stopping[0]:
            send(client, "ERR shutting-down the dispatcher is stopping")
        elif len(queue) >= 64 and all(holding[k] is not None for k in workers):
            send(client, "ERR busy all workers busy and the queue full")
        else:
            next_id[0] += 1
            client.busy = True
            queue.append(Job(next_id[0], got[1], client))
            pump()

    def next_line(client):
        while not client.busy and not client.closing:
            got = client.lines.next()
            if got is None:
                if client.lines.eof:
                    client.closing = True
                    flush(client)
                return
            handle(client, got)

    def client_event(client, mask):
        if mask & selectors.EVENT_READ:
            data = receive(client.sock, 65536)
            if data is not None:
                client.lines.feed(data)
                next_line(client)
        if mask & selectors.EVENT_WRITE and client.sock.fileno() >= 0:
            flush(client)

    def accept(_mask):
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock.setblocking(False)
            client = Client(sock, sock.getsockname()[0])
            clients[id(client)] = client
            loop.selector.register(sock, selectors.EVENT_READ, lambda m, c=client: client_event(c, m))

    loop.selector.register(listener, selectors.EVENT_READ, accept)
    for k in workers:
        loop.selector.register(answers[k], selectors.EVENT_READ, lambda m, k=k: worker_answers(k))
    next_beat = 0.0
    stop_deadline = None
    while True:
        now = time.monotonic()
        if now >= next_beat:
            if orphaned():
                os._exit(3)
            segment.set_slot(1, heartbeat=now)
            for k in workers:
                pid = segment.slot(1 + k)[0]
                if pid != seen[k]:  # a new worker in the slot: the old one is gone
                    lost(k)
                    seen[k] = pid
                elif holding[k] is not None and not alive(k):
                    lost(k)
            for job in [j for j in queue if now - j.since > 10]:
                queue.remove(job)
                reply(job, "ERR timeout not served within 10000 ms")
            pump()
            next_beat = now + HEARTBEAT_S
        loop.run_once(max(0, next_beat - now))
        if signal.SIGTERM in loop.signals and not stopping[0]:
            stopping[0] = True
            stop_deadline = now + GRACE_S
            loop.selector.unregister(listener)
            listener.close()
            for job in queue:
                reply(job, "ERR shutting-down the dispatcher is stopping")
            queue.clear()
        if stopping[0] and (all(j is None for j in holding.values()) or now > stop_deadline):
            for client in list(clients.values()):
                flush(client)
                close(client)
            os._exit(0)


# ---------------------------------------------------------------- the supervisor


def clear_leftovers(runtime, shm):
    """What a supervisor killed before its stop left (its pipes, directory and segment) is
    removed; but if the supervisor named in the segment still runs, this one refuses to start."""
    try:
        with open(shm, "rb") as f:
            pid = SLOT.unpack_from(f.read(HEADER_SIZE + SLOT.size), HEADER_SIZE)[0]
    except FileNotFoundError:
        pid = None
    except (OSError, struct.error):
        pid = 0
    if pid:
        try:
            os.kill(pid, 0)
            sys.exit(f"server.py: {shm} belongs to supervisor {pid}, which still runs: stop it first")
        except ProcessLookupError:
            pass
    if pid is not None:
        os.unlink(shm)
    if os.path.isdir(runtime):
        for entry in os.listdir(runtime):
            os.unlink(os.path.join(runtime, entry))
        os.rmdir(runtime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--stage", default="ideal", choices=sorted(STAGES))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--broken", choices=BROKEN)
    args = parser.parse_args()
    args.stage = STAGES[args.stage]
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be from 1 to 64")
    name = f"osps-py-{args.port}"
    runtime = f"/tmp/{name}"
    clear_leftovers(runtime, f"/dev/shm/{name}")
    os.mkdir(runtime, 0o700)
    for k in range(1, args.workers + 1):
        os.mkfifo(f"{runtime}/dwtube{k}", 0o600)
        os.mkfifo(f"{runtime}/wdtube{k}", 0o600)
    segment = Segment(f"/dev/shm/{name}", args.workers, create=True)
    supervisor = os.getpid()
    segment.set_slot(0, pid=supervisor)
    loop = Loop([signal.SIGTERM, signal.SIGINT, signal.SIGCHLD])
    roles = {}  # pid -> slot (1 the dispatcher, 1 + k worker k)
    generations = {}

    def start(slot):
        generations[slot] = generations.get(slot, 0) + 1
        # Port 0 until the new process has said where it listens (it may do so before the parent
        # returns from fork: so it is cleared before).
        segment.set_slot(slot, port=0)
        pid = os.fork()
        if pid == 0:
            try:
                if slot == 1:
                    run_dispatcher(args, segment, supervisor, runtime, generations[slot])
                else:
                    run_worker(slot - 1, args, segment, supervisor, runtime)
            except Exception as e:  # noqa: BLE001 - a child says why it died, then dies
                print(f"role {slot}: {e}", file=sys.stderr)
            os._exit(1)
        roles[pid] = slot
        segment.set_slot(slot, pid=pid, generation=generations[slot], heartbeat=time.monotonic())

    start(1)
    for k in range(1, args.workers + 1):
        start(1 + k)
    stopping = False
    while not stopping:
        loop.run_once(HEARTBEAT_S)
        segment.set_slot(0, heartbeat=time.monotonic())
        for s in loop.signals:
            if s in (signal.SIGTERM, signal.SIGINT):
                stopping = True
        loop.signals.clear()
        while not stopping:  # SIGCHLD: reap every child that ended, restart its role
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            slot = roles.pop(pid, None)
            if slot is not None and (slot == 1 or args.broken != "no-restart"):
                start(slot)
        for pid, slot in list(roles.items()):  # a role that stopped beating is frozen
            if time.monotonic() - segment.slot(slot)[2] > FROZEN_S and args.broken != "no-restart":
                os.kill(pid, signal.SIGKILL)
    if args.broken == "leave-zombie":
        for pid in roles:
            os.kill(pid, signal.SIGTERM)
        time.sleep(1)  # they exit, and nobody reaps them: zombies, until this process ends
    else:
        stop(roles, loop)
    if args.broken != "leave-ipc":
        for k in range(1, args.workers + 1):
            os.unlink(f"{runtime}/dwtube{k}")
            os.unlink(f"{runtime}/wdtube{k}")
        os.rmdir(runtime)
        os.unlink(f"/dev/shm/{name}")
    return 0


def stop(roles, loop):
    """The stop: the dispatcher first (it answers what it holds), then the workers, each phase
    given the grace, then SIGKILL (a stopped process acts on nothing else); every child reaped."""
    for phase in ({p for p, s in roles.items() if s == 1}, {p for p, s in roles.items() if s != 1}):
        for pid in phase:
            os.kill(pid, signal.SIGTERM)
        until = time.monotonic() + GRACE_S + 0.5
        while phase and time.monotonic() < until:
            while phase:
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    phase.clear()
                    break
                if pid == 0:
                    break
                phase.discard(pid)
            if phase:
                loop.run_once(until - time.monotonic())  # until the next SIGCHLD
        for pid in phase:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break


if __name__ == "__main__":
    sys.exit(main())
