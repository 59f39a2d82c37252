/**
 * The private runtime directory of one system instance: mode 0700, owned by the caller, holding
 * that instance's named pipes (and later its lock and trace files).
 *
 * @module
 */

import * as libc from "./libc.ts";
import { makeFifo } from "./fifo.ts";

/** A runtime directory that is missing, not a directory, not ours, or open to others. */
export class RuntimeDirError extends Error {
  /** The directory's path. */
  readonly path: string;
  /** The runtime directory `path` is refused, `detail` saying why. */
  constructor(path: string, detail: string) {
    super(`runtime directory ${path} is refused: ${detail}`);
    this.name = "RuntimeDirError";
    this.path = path;
  }
}

/**
 * Creates the directory `path` with mode 0700 exactly, whatever the umask (no chmod by path after
 * it); Deno's AlreadyExists if something is there.
 */
export function makePrivateDirectory(path: string): void {
  libc.withUmask(0o077, () => Deno.mkdirSync(path, { mode: 0o700 }));
}

/** Where runtime directories go by default: $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp. */
export function defaultRuntimeBase(): string {
  return Deno.env.get("XDG_RUNTIME_DIR") || Deno.env.get("TMPDIR") || "/tmp";
}

/** A private (0700) directory for one instance's pipes. */
export class RuntimeDir {
  /** The directory's absolute path. */
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Creates a fresh directory `<base>/<prefix>XXXXXX` with mode 0700. */
  static create(options: { base?: string; prefix?: string } = {}): RuntimeDir {
    // Made 0700 as it is created (no chmod by path after it), whatever the umask.
    const path = libc.withUmask(0o077, () =>
      Deno.makeTempDirSync({
        dir: options.base ?? defaultRuntimeBase(),
        prefix: options.prefix ?? "osps-",
      }));
    return RuntimeDir.open(path);
  }

  /** Opens an existing directory after checking it is a directory of ours with mode 0700. */
  static open(path: string): RuntimeDir {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new RuntimeDirError(path, "it does not exist");
      throw e;
    }
    if (!info.isDirectory) throw new RuntimeDirError(path, "it is not a directory");
    if (info.uid !== libc.getuid()) {
      throw new RuntimeDirError(path, `it belongs to uid ${info.uid}`);
    }
    const mode = (info.mode ?? 0) & 0o777;
    if (mode !== 0o700) {
      throw new RuntimeDirError(path, `its mode is ${mode.toString(8)}, not 700`);
    }
    return new RuntimeDir(path);
  }

  /** The path of an entry of this directory; `name` is a plain file name. */
  file(name: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name === "." || name === "..") {
      throw new TypeError(`bad runtime file name ${JSON.stringify(name)}`);
    }
    return `${this.path}/${name}`;
  }

  /** Creates the named pipe `name` (mode 0600) in this directory and returns its path. */
  fifo(name: string): string {
    const path = this.file(name);
    makeFifo(path);
    return path;
  }

  /**
   * Makes sure the entry `name` is this user's named pipe, mode 0600: if it is gone, or anything
   * else is there (a regular file, a link, another user's pipe), that is removed and the pipe
   * created again. Returns what it found wrong, or null if nothing was.
   */
  ensureFifo(name: string): string | null {
    const path = this.file(name);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      makeFifo(path);
      return "it was gone";
    }
    const mode = (info.mode ?? 0) & 0o777;
    const wrong = !info.isFifo
      ? `it was ${info.isSymlink ? "a symbolic link" : info.isDirectory ? "a directory" : "a file"}`
      : info.uid !== libc.getuid()
      ? `it belonged to uid ${info.uid}`
      : mode !== 0o600
      ? `its mode was ${mode.toString(8)}`
      : null;
    if (wrong === null) return null;
    Deno.removeSync(path, { recursive: info.isDirectory });
    makeFifo(path);
    return wrong;
  }

  /** Removes the directory and everything in it; a directory already gone is not an error. */
  remove(): void {
    try {
      Deno.removeSync(this.path, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
