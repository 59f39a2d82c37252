/**
 * Paths on the command line: a path the user gives resolves against where the user stands (a deno
 * task runs in the repository, and says where it was started in `INIT_CWD`), a default output
 * goes into the repository's own `out/`, a path printed back is relative to where the user stands
 * when it is inside it and absolute otherwise, and an output folder is checked writable before
 * anything starts.
 *
 * @module
 */

import { dirname, isAbsolute, relative, resolve } from "node:path";
import { CommandError } from "./common.ts";

/** The repository's root folder. */
export const REPOSITORY: string = resolve(new URL("..", import.meta.url).pathname);

/** Where the user stands: the folder a deno task was started in, else this process's. */
export function userCwd(): string {
  return Deno.env.get("INIT_CWD") || Deno.cwd();
}

/** A path the user gave, resolved against where the user stands. */
export function userPath(path: string): string {
  return resolve(userCwd(), path);
}

/** The default output folder `name` (`out/ideal`), inside the repository. */
export function defaultOut(name: string): string {
  return resolve(REPOSITORY, "out", name);
}

/** A path as printed: relative to where the user stands if inside it, else absolute. */
export function shown(path: string): string {
  const abs = resolve(path);
  const rel = relative(userCwd(), abs);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs;
}

/**
 * Makes sure `dir` exists and can be written, before a run starts: creates it (and its parents)
 * and writes and removes a probe file. Throws a {@link CommandError} saying why and what to do
 * (`--out DIR`); on failure, nothing it created is left.
 */
export function writableDir(dir: string): string {
  const missing: string[] = [];
  for (let d = resolve(dir); !exists(d); d = dirname(d)) {
    missing.push(d);
    if (d === dirname(d)) break;
  }
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.removeSync(Deno.makeTempFileSync({ dir, prefix: ".osps-probe-" }));
    return dir;
  } catch (e) {
    // What this call created, deepest first; a folder it could not create is not there.
    for (const d of missing.filter(exists)) Deno.removeSync(d);
    const why = e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message.replace(/ \(os error \d+\).*$/, "").toLowerCase();
    throw new CommandError(
      `cannot write into ${shown(dir)}: ${why}; give --out DIR to write somewhere else`,
    );
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
