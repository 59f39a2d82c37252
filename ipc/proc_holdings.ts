/**
 * What a process holds, read from /proc as a stranger may read it (TLPI's chapter on /proc):
 * its open descriptors — files, named pipes with the end it has open, sockets — its shared
 * memory mappings, and which sockets listen on which TCP port. What `deno task check` learns a
 * system's architecture from.
 *
 * @module
 */

import * as libc from "./libc.ts";

/** One open descriptor of a process. */
export interface OpenFile {
  /** The descriptor's number. */
  fd: number;
  /** What it names: a path, `socket:[inode]`, `pipe:[inode]`, `anon_inode:…`. */
  target: string;
  /** How it is open: `r`, `w` or `rw` (the access mode of /proc/<pid>/fdinfo's flags). */
  mode: "r" | "w" | "rw";
  /** Whether it is a named pipe (a FIFO with a path; `pipe:[…]` ones are anonymous). */
  fifo: boolean;
}

/** A /proc file's text; null if it is gone (its process or descriptor closed meanwhile). */
function text(path: string): string | null {
  try {
    const raw = libc.readWholeFile(path);
    return raw === null ? null : new TextDecoder().decode(raw);
  } catch (e) {
    if (e instanceof libc.SysCallError && ["ENOENT", "ESRCH", "EACCES"].includes(e.code)) {
      return null;
    }
    throw e;
  }
}

/** The descriptors `pid` has open (empty if it is gone, or not this user's to look at). */
export function openFiles(pid: number): OpenFile[] {
  let fds: string[];
  try {
    fds = libc.listDirectory(`/proc/${pid}/fd`);
  } catch (e) {
    if (e instanceof libc.SysCallError && ["ENOENT", "EACCES", "ESRCH"].includes(e.code)) return [];
    throw e;
  }
  return fds.flatMap((name) => {
    const target = libc.readLink(`/proc/${pid}/fd/${name}`);
    const flags = /^flags:\s+(\d+)$/m.exec(text(`/proc/${pid}/fdinfo/${name}`) ?? "")?.[1];
    if (target === null || flags === undefined) return [];
    const access = parseInt(flags, 8) & 3;
    // stat(2) through libc: Deno itself lets only --allow-all read under /proc/<pid>/fd.
    const mode = target.startsWith("/") ? libc.fileMode(`/proc/${pid}/fd/${name}`) : null;
    const fifo = mode !== null && (mode & 0o170000) === libc.S_IFIFO;
    return [{
      fd: Number(name),
      target,
      mode: access === 0 ? "r" : access === 1 ? "w" : "rw",
      fifo,
    }];
  });
}

/** A shared mapping (MAP_SHARED) of a process. */
export interface SharedMapping {
  /** What it maps: a path (a /dev/shm object, a file), or `anonymous` (shared across a fork). */
  name: string;
  /** The mapped object's device and inode, `dev:inode`: the same object in every process. */
  key: string;
}

/**
 * The shared mappings `pid` can write (/proc/<pid>/maps: `w` and `s` in the permissions), each
 * once. Read-only shared ones (a locale cache, say) carry nothing between processes.
 */
export function sharedMappings(pid: number): SharedMapping[] {
  const maps = text(`/proc/${pid}/maps`) ?? "";
  const found = new Map<string, SharedMapping>();
  for (const line of maps.split("\n")) {
    // "address perms offset dev inode [path]"
    const m = /^\S+ \Sw\Ss \S+ (\S+) (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const path = m[3].replace(/ \(deleted\)$/, "");
    const key = `${m[1]}:${m[2]}`;
    const name = path === "" || path === "/dev/zero" ? "anonymous" : path;
    found.set(key, { name, key });
  }
  return [...found.values()];
}

const AF_NETLINK = 16, SOCK_RAW = 3, NETLINK_SOCK_DIAG = 4, SOCK_DIAG_BY_FAMILY = 20;
const NLMSG_ERROR = 2, NLMSG_DONE = 3, TCP_LISTEN = 10;

/**
 * The TCP sockets that listen, by inode (`sock_diag` over netlink, as `ss -lt` asks: only
 * listening sockets come back; /proc/net/tcp would list every connection and TIME_WAIT entry,
 * tens of thousands after a busy run, in seconds).
 */
export function listeningPorts(): Map<string, { port: number; host: string }> {
  const found = new Map<string, { port: number; host: string }>();
  const fd = libc.socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG, "a sock_diag netlink socket");
  try {
    for (const family of [2, 10]) {
      // struct nlmsghdr (16 bytes), then struct inet_diag_req_v2 (56 bytes).
      const req = new Uint8Array(72);
      const v = new DataView(req.buffer);
      v.setUint32(0, 72, true);
      v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
      v.setUint16(6, 0x301, true); // NLM_F_REQUEST | NLM_F_DUMP
      v.setUint32(8, family, true);
      req[16] = family;
      req[17] = 6; // IPPROTO_TCP
      v.setUint32(20, 1 << TCP_LISTEN, true);
      libc.write(fd, req, "the sock_diag request");
      readDiagReplies(fd, family, found);
    }
  } finally {
    libc.close(fd);
  }
  return found;
}

const diagBuffer = new Uint8Array(65536);

/** Reads sock_diag's answers to one dump until NLMSG_DONE. */
function readDiagReplies(
  fd: number,
  family: number,
  found: Map<string, { port: number; host: string }>,
): void {
  while (true) {
    const n = libc.read(fd, diagBuffer, "the sock_diag answers");
    const v = new DataView(diagBuffer.buffer, 0, n);
    for (let at = 0; at + 16 <= n;) {
      const len = v.getUint32(at, true);
      const type = v.getUint16(at + 4, true);
      if (type === NLMSG_ERROR && v.getInt32(at + 16, true) !== 0) {
        throw new Error(
          `sock_diag refused the dump of listening sockets: errno ${-v.getInt32(at + 16, true)}`,
        );
      }
      if (type === NLMSG_DONE || type === NLMSG_ERROR || len < 16) return;
      // struct inet_diag_msg: family, state, timer, retrans, then the socket id (sport and
      // dport big-endian, src, dst, if, cookie); inode at 68.
      const m = at + 16;
      const port = v.getUint16(m + 4, false);
      const src = diagBuffer.subarray(m + 8, m + (family === 2 ? 12 : 24));
      const host = family === 2 ? [...src].join(".") : ipv6(src);
      found.set(String(v.getUint32(m + 68, true)), { port, host });
      at += (len + 3) & ~3;
    }
  }
}

/** An IPv6 address, as 8 hex groups. */
function ipv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(":");
}

/** The inode of a socket descriptor's target (`socket:[1234]`), or null. */
export function socketInode(target: string): string | null {
  return /^socket:\[(\d+)\]$/.exec(target)?.[1] ?? null;
}
