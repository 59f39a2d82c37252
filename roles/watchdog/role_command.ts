/**
 * The command line of a role's next process, from the instance's options: what every role takes
 * (`roleArgs`), and the dispatcher's own options or the worker's number and port.
 *
 * @module
 */

import { dispatcherArgs } from "../dispatcher/options.ts";
import { roleArgs } from "../role_args.ts";
import type { InstancePaths } from "./instance.ts";
import type { ResolvedOptions } from "./options.ts";
import type { Supervised } from "./supervised.ts";

/**
 * The arguments of `role`'s next process in the instance at `paths` run with `o`; `listenFd` is
 * the listening socket the dispatcher inherits.
 */
export function roleProgramArgs(
  o: ResolvedOptions,
  paths: InstancePaths,
  listenFd: number,
  role: Pick<Supervised, "kind" | "k" | "port">,
): string[] {
  const context = roleArgs({
    stage: o.stage,
    segment: paths.segment,
    runtimeDir: paths.dir,
    host: o.host,
    // A restarted dispatcher takes the port of the one it replaces (it matters with port 0).
    port: role.kind === "dispatcher" && role.port ? role.port : o.port,
    claimTimeoutMs: o.claimTimeoutMs,
    parentPid: Deno.pid,
    logLevel: o.logLevel,
    trace: o.trace,
    traceMaxBytes: o.traceMaxBytes,
  });
  if (role.kind === "dispatcher") return [...context, ...dispatcherArgs({ ...o, listenFd })];
  return [
    ...context,
    "--worker",
    String(role.k),
    ...(role.port ? ["--worker-port", String(role.port)] : []),
  ];
}
