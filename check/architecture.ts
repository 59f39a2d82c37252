/**
 * What a running system is made of, read from /proc as any process of its user may: its process
 * tree, which process listens on which TCP port, which processes map which shared object, which
 * hold which named pipe and which end; then whether that is the course's design — a dispatcher on
 * the port, N worker processes, a segment the dispatcher and every worker map, a pair of named
 * pipes between the dispatcher and each worker, a supervisor above them.
 *
 * @module
 */

import {
  listeningPorts,
  openFiles,
  type ProcessInfo,
  readArguments,
  sharedMappings,
  socketInode,
} from "../ipc/mod.ts";
import { type CheckResult, verdictOf } from "./verdict.ts";
import { count } from "../roles/mod.ts";

/** A process's part in the design, as the checker made it out. */
export type ProcessRole = "supervisor" | "dispatcher" | "worker" | "other";

/** One process of the system, and what it holds. */
export interface ProcessView {
  /** Its pid. */
  pid: number;
  /** Its parent's pid. */
  ppid: number;
  /** Its part. */
  role: ProcessRole;
  /** Its command line, shortened. */
  command: string;
  /** The TCP addresses it listens on, `host:port`. */
  listens: string[];
  /** The shared objects it maps, by name (see {@link Architecture.shared}). */
  maps: string[];
  /** The named pipes it holds open, each with its end: `path (r)`, `(w)` or `(rw)`. */
  pipes: string[];
}

/** What the system is made of, and where. */
export interface Architecture {
  /** Its processes, the tree's order (parents first). */
  processes: ProcessView[];
  /**
   * The dispatcher: the process listening on the port (null if none of the tree does); of several
   * that hold the listening socket, the one that holds named pipes.
   */
  dispatcher: number | null;
  /** The workers: the processes holding named pipes the dispatcher holds too. */
  workers: number[];
  /** The supervisor: the nearest process above the dispatcher and every worker, neither of them. */
  supervisor: number | null;
  /** The shared objects mapped by more than one of its processes: name and the pids that map it. */
  shared: { name: string; pids: number[] }[];
  /** The named pipes: path and who holds which end. */
  pipes: { path: string; holders: { pid: number; mode: string }[] }[];
}

/** Paths the system held: what the cleanup looks for after its stop. */
export interface Holdings {
  /** Named pipes, by path. */
  pipes: Set<string>;
  /** Shared objects with a path (a /dev/shm object, a mapped file). */
  objects: Set<string>;
}

/** An empty record of holdings. */
export function noHoldings(): Holdings {
  return { pipes: new Set(), objects: new Set() };
}

function shortCommand(pid: number): string {
  const words = readArguments(pid).map((w) => w.replace(/^.*\/(?=[^/]+$)/, ""));
  const text = words.join(" ");
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/**
 * Reads the architecture of the processes `tree` (the system's tree, parents before children),
 * whose dispatcher should listen on `port`. `holdings` gets every pipe and named object seen.
 */
export function readArchitecture(
  tree: ProcessInfo[],
  port: number,
  holdings: Holdings = noHoldings(),
): Architecture {
  const running = tree.filter((p) => p.state !== "Z");
  const ports = listeningPorts();
  // The checker's own shared mappings (Deno's caches) are nobody's design.
  const mine = new Set(sharedMappings(Deno.pid).map((m) => m.key));
  const views = new Map<number, ProcessView>();
  const pipeHolders = new Map<string, { pid: number; mode: string }[]>();
  const sharedBy = new Map<string, { name: string; pids: number[] }>();
  for (const p of running) {
    const files = openFiles(p.pid);
    const listens = files.flatMap((f) => {
      const at = ports.get(socketInode(f.target) ?? "");
      return at ? [`${at.host}:${at.port}`] : [];
    });
    const pipes = files.filter((f) => f.fifo);
    for (const f of pipes) {
      pipeHolders.set(f.target, [...(pipeHolders.get(f.target) ?? []), {
        pid: p.pid,
        mode: f.mode,
      }]);
      holdings.pipes.add(f.target);
    }
    const maps = sharedMappings(p.pid).filter((m) => !mine.has(m.key));
    for (const m of maps) {
      const entry = sharedBy.get(m.key) ?? { name: m.name, pids: [] };
      entry.pids.push(p.pid);
      sharedBy.set(m.key, entry);
      if (m.name.startsWith("/")) holdings.objects.add(m.name);
    }
    views.set(p.pid, {
      pid: p.pid,
      ppid: p.ppid,
      role: "other",
      command: shortCommand(p.pid),
      listens: [...new Set(listens)],
      maps: maps.map((m) => m.name),
      pipes: pipes.map((f) => `${f.target} (${f.mode})`),
    });
  }
  // Several processes may hold the listening socket (a supervisor that keeps it while its
  // dispatcher restarts, as nginx's master and osps's watchdog do, and what inherited it): the
  // dispatcher is the one among them that holds named pipes; else the deepest in the tree.
  const listeners = running.filter((p) =>
    views.get(p.pid)!.listens.some((a) => a.endsWith(`:${port}`))
  );
  const dispatcher = (listeners.find((p) => views.get(p.pid)!.pipes.length > 0) ??
    listeners.at(-1))?.pid ?? null;
  const ancestors = (pid: number): number[] => {
    const up: number[] = [];
    for (let p = views.get(pid)?.ppid; p !== undefined && views.has(p); p = views.get(p)?.ppid) {
      up.push(p);
    }
    return up;
  };
  let workers: number[] = [];
  if (dispatcher !== null) {
    const above = new Set(ancestors(dispatcher));
    const itsPipes = [...pipeHolders.values()].filter((h) => h.some((x) => x.pid === dispatcher));
    workers = [
      ...new Set(itsPipes.flatMap((h) => h.map((x) => x.pid))),
    ].filter((pid) => pid !== dispatcher && !above.has(pid)).sort((a, b) => a - b);
  }
  let supervisor: number | null = null;
  if (dispatcher !== null && workers.length > 0) {
    const common = [dispatcher, ...workers].map((pid) => new Set(ancestors(pid)));
    supervisor = ancestors(dispatcher).find((a) =>
      common.every((s) => s.has(a)) && !workers.includes(a)
    ) ?? null;
  }
  for (const v of views.values()) {
    v.role = v.pid === dispatcher
      ? "dispatcher"
      : workers.includes(v.pid)
      ? "worker"
      : v.pid === supervisor
      ? "supervisor"
      : "other";
  }
  return {
    processes: [...views.values()],
    dispatcher,
    workers,
    supervisor,
    shared: [...sharedBy.values()].filter((s) => s.pids.length > 1),
    pipes: [...pipeHolders].map(([path, holders]) => ({ path, holders })),
  };
}

/** Whether the architecture is the course's design, check by check. */
export function architectureChecks(a: Architecture, port: number, workers: number): CheckResult[] {
  const check = (name: string, ok: boolean, detail: string) =>
    verdictOf("architecture", name, ok, detail);
  const results = [
    check(
      `a dispatcher listens on port ${port}`,
      a.dispatcher !== null,
      a.dispatcher !== null
        ? `pid ${a.dispatcher} (${
          a.processes.find((p) => p.pid === a.dispatcher)!.listens.join(", ")
        })`
        : `no process of its tree listens on ${port}`,
    ),
  ];
  if (a.dispatcher === null) return results;
  results.push(check(
    `${count(workers, "worker process", "worker processes")}`,
    a.workers.length === workers,
    a.workers.length === workers
      ? `pids ${a.workers.join(", ")}`
      : `processes sharing named pipes with the dispatcher: ${a.workers.length}` +
        (a.workers.length ? ` (pids ${a.workers.join(", ")})` : ""),
  ));
  const segment = a.shared.find((s) =>
    s.pids.includes(a.dispatcher!) && a.workers.every((w) => s.pids.includes(w))
  );
  results.push(check(
    "a shared segment the dispatcher and every worker map",
    segment !== undefined && a.workers.length > 0,
    segment
      ? `${segment.name}, mapped by ${count(segment.pids.length, "process", "processes")}`
      : a.shared.length
      ? `shared: ${a.shared.map((s) => `${s.name} (pids ${s.pids.join(", ")})`).join("; ")}`
      : "no shared mapping between its processes",
  ));
  const pairs = a.workers.map((w) =>
    a.pipes.filter((p) =>
      p.holders.some((h) => h.pid === w) && p.holders.some((h) => h.pid === a.dispatcher)
    ).length
  );
  results.push(check(
    "two named pipes between the dispatcher and each worker",
    a.workers.length > 0 && pairs.every((n) => n >= 2),
    a.workers.length === 0
      ? "no worker shares a named pipe with the dispatcher"
      : a.workers.map((w, i) => `${w}: ${pairs[i]}`).join(", "),
  ));
  const sup = a.processes.find((p) => p.pid === a.supervisor);
  results.push(check(
    "a supervisor above them",
    sup !== undefined,
    sup
      ? `pid ${sup.pid} (${sup.command})`
      : "no process of the tree is above the dispatcher and every worker",
  ));
  return results;
}

/** The architecture as a table, a line per process. */
export function formatArchitecture(a: Architecture): string[] {
  const depth = (p: ProcessView): number => {
    const parent = a.processes.find((q) => q.pid === p.ppid);
    return parent ? depth(parent) + 1 : 0;
  };
  return a.processes.map((p) => {
    const holds = [
      ...p.listens.map((l) => `listens ${l}`),
      ...p.maps.map((m) => `maps ${m}`),
      ...p.pipes.map((f) => `pipe ${f}`),
    ];
    return `${"  ".repeat(depth(p))}${p.pid} ${p.role.padEnd(10)} ${p.command}${
      holds.length ? `\n${"  ".repeat(depth(p) + 1)}  ${holds.join("; ")}` : ""
    }`;
  });
}
