/**
 * The ping-pong exercise (seed questions 2.a and 2.b): a parent spawns a child, they exchange N
 * ping/pong messages over two named pipes (`dwtube1` parent→child, `wdtube1` child→parent), each
 * carrying a counter and a timestamp in mailbox 1 of a shared segment, then stop in the right
 * order: the child ends first and the parent reaps it, then the parent removes the pipes, the
 * segment and the runtime directory. The report ends with the proof, read from /proc and the
 * file system.
 *
 * @module
 */

import {
  DISPATCHER_SLOT,
  FifoReader,
  FifoWriter,
  monotonicMs,
  type ProcessExit,
  RuntimeDir,
  SharedSegment,
} from "../ipc/mod.ts";
import {
  closeTrace,
  freshTraceFile,
  reapChild,
  roleCommand,
  setupLogging,
  TRACED_EXCHANGES,
  traceEvent,
} from "../roles/mod.ts";
import { renderTrace } from "./diagram_render.ts";
import { checkLeftovers, type LeftoverReport } from "./proof.ts";

const PONGER = new URL("../roles/ponger.ts", import.meta.url);

/** Options of {@link runPingPong}. */
export interface PingPongOptions {
  /** Number of exchanges (default 10). */
  count?: number;
  /** Aborting stops the run early; it still cleans up and reports. */
  signal?: AbortSignal;
  /** Called once the run's resources exist, before the first ping. */
  onStart?: (info: { segment: string; runtimeDir: string; childPid: number }) => void;
  /** Called after each exchange. */
  onExchange?: (exchange: Exchange) => void;
  /** The child's `--log-level` (default `warning`). */
  logLevel?: string;
  /** Where the trace and its diagram go (default `out/pingpong`). */
  outDir?: string;
}

/** One ping and its pong. */
export interface Exchange {
  /** The counter, from 1. */
  n: number;
  /** Round trip, ping sent to pong received, in µs. */
  rttUs: number;
  /** When the child stamped its pong in the mailbox, in µs after the ping was sent. */
  childStampUs: number;
}

/** Everything a run did and left. */
export interface PingPongReport {
  /** Exchanges asked for. */
  count: number;
  /** Exchanges done, in order. */
  exchanges: Exchange[];
  /** The shared segment's name. */
  segment: string;
  /** The runtime directory (holding the two pipes). */
  runtimeDir: string;
  /** The child's pid (0 if it never started). */
  childPid: number;
  /** How the child ended, as reaped by the parent. */
  childStatus: ProcessExit | null;
  /** Whether the run was interrupted through `signal` (it still stopped in order). */
  aborted: boolean;
  /** What went wrong, if anything did. */
  error: string | null;
  /** What the run left behind: every list empty when it cleaned up. */
  leftovers: LeftoverReport;
  /** The trace (the first exchanges) and its sequence diagram. */
  files: { trace: string; markdown: string; html: string } | null;
}

/** The clock the mailboxes' timestamps use: CLOCK_MONOTONIC, the same in both processes. */
const now = monotonicMs;

/** Runs the exercise and returns its report; it throws only for bad options. */
export async function runPingPong(options: PingPongOptions = {}): Promise<PingPongReport> {
  const count = options.count ?? 10;
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
    throw new RangeError(`count must be an integer from 1 to 1000000, got ${count}`);
  }
  // The trace first: an output folder that cannot be written stops the run before it creates
  // anything.
  const outDir = options.outDir ?? "out/pingpong";
  const trace = freshTraceFile(`${outDir}/trace.jsonl`);
  const runtime = RuntimeDir.create({ prefix: "osps-pingpong-" });
  const segmentName = `/osps-pingpong-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const report: PingPongReport = {
    count,
    exchanges: [],
    segment: segmentName,
    runtimeDir: runtime.path,
    childPid: 0,
    childStatus: null,
    aborted: false,
    error: null,
    leftovers: { zombies: [], survivors: [], paths: [], segments: [] },
    files: null,
  };
  setupLogging("error", { path: trace, role: "parent" });
  try {
    await exchange(runtime, report, options, trace);
  } catch (e) {
    report.error = String(e);
  }
  closeTrace();
  report.files = {
    trace,
    ...renderTrace(trace, outDir, { title: `ping-pong, ${count} exchanges` }),
  };
  report.leftovers = checkLeftovers({
    pids: report.childPid ? [report.childPid] : [],
    paths: [runtime.file("dwtube1"), runtime.file("wdtube1"), runtime.path],
    segments: [segmentName],
  });
  return report;
}

async function exchange(
  runtime: RuntimeDir,
  report: PingPongReport,
  options: PingPongOptions,
  trace: string,
): Promise<void> {
  // Cleanup runs in reverse order of the defers: child reaped first, then pipes, segment, directory.
  await using cleanup = new AsyncDisposableStack();
  cleanup.defer(() => runtime.remove());
  const segment = SharedSegment.create(report.segment, { workers: 1 });
  cleanup.defer(() => {
    segment.close();
    SharedSegment.unlink(report.segment);
  });
  segment.slot(DISPATCHER_SLOT).set("pid", Deno.pid);
  const mailbox = segment.mailbox(1);
  const pingPath = runtime.fifo("dwtube1");
  const pongPath = runtime.fifo("wdtube1");
  const pongs = cleanup.use(FifoReader.open(pongPath));

  const child = roleCommand(PONGER, [
    "--segment",
    report.segment,
    "--ping",
    pingPath,
    "--pong",
    pongPath,
    "--parent-pid",
    String(Deno.pid),
    "--log-level",
    options.logLevel ?? "warning",
    "--trace",
    trace,
  ], { stdin: "null", stdout: "inherit", stderr: "inherit" }).spawn();
  report.childPid = child.pid;
  cleanup.defer(async () => {
    report.childStatus = await reapChild(child, { graceMs: 2000 });
  });

  // The child's death ends every wait: its end of wdtube1 closes (EOF), and the open of dwtube1
  // is released. An interrupt lets the exchange in flight finish, then stops in order; only a
  // child that does not answer within 2 s has its pong pipe closed under it.
  const childGone = new AbortController();
  child.status.then(() => childGone.abort(new Error(`child ${child.pid} exited early`)));
  const interrupt = options.signal ?? new AbortController().signal;
  let unanswered: ReturnType<typeof setTimeout> | undefined;
  const onInterrupt = () => {
    report.aborted = true;
    unanswered = setTimeout(() => pongs.close(), 2000);
  };
  interrupt.addEventListener("abort", onInterrupt, { once: true });
  cleanup.defer(() => {
    interrupt.removeEventListener("abort", onInterrupt);
    clearTimeout(unanswered);
  });

  const opening = AbortSignal.any([childGone.signal, interrupt]);
  const pings = cleanup.use(await FifoWriter.open(pingPath, { signal: opening }));
  options.onStart?.({ segment: report.segment, runtimeDir: runtime.path, childPid: child.pid });
  for (let n = 1; n <= report.count && !interrupt.aborted; n++) {
    const sentAt = now();
    mailbox.write("ping", { seq: n, timestamp: sentAt });
    const traced = n <= TRACED_EXCHANGES;
    if (traced) {
      traceEvent({ event: "write mailbox", channel: "shm", req: n, peer: "child", detail: "ping" });
    }
    if (traced) {
      traceEvent({ event: "send", channel: "fifo", req: n, peer: "child", detail: `ping ${n}` });
    }
    pings.send(`ping ${n}`);
    const answer = await pongs.receiveText();
    if (traced) {
      traceEvent({
        event: "recv",
        channel: "fifo",
        req: n,
        peer: "child",
        detail: answer ?? "EOF",
      });
    }
    const receivedAt = now();
    if (answer === null) {
      throw new Error(`no pong ${n}: the child closed its pipe or did not answer`);
    }
    const inbox = mailbox.readText();
    if (answer !== `pong ${n}` || inbox.seq !== n || inbox.text !== "pong") {
      throw new Error(
        `expected pong ${n}, got frame ${JSON.stringify(answer)}, mailbox ${inbox.seq}`,
      );
    }
    const done = {
      n,
      rttUs: (receivedAt - sentAt) * 1000,
      childStampUs: (inbox.timestamp - sentAt) * 1000,
    };
    report.exchanges.push(done);
    options.onExchange?.(done);
  }
  // The ordered stop: tell the child, let it end first; the deferred reap waits for it.
  pings.send("stop");
}
