/**
 * `main.ts trace <trace-file>`: renders a run's trace as a sequence diagram, in Markdown (Mermaid)
 * and as a self-contained HTML page.
 *
 * @module
 */

import { traceFiles } from "../roles/mod.ts";
import { diagramPaths, NotATraceError, readTraceChecked, renderTrace } from "../scenarios/mod.ts";
import { type Command, CommandError, parse, UsageError, usageShown } from "./common.ts";
import { shown, userPath, writableDir } from "./paths.ts";

const USAGE = `Usage: deno task trace <trace-file> [--out DIR] [--title TEXT]

Renders a run's trace (one JSON object per line, as every role writes it; with the older
<trace-file>.1 a bounded trace was rotated to, and the .lifecycle file of its watchdog's events,
when there are) as a sequence diagram: one lifeline per role instance (client k, dispatcher,
worker k, watchdog), one arrow per message labelled with what it carried and its channel (tcp,
fifo, shm), the watchdog's spawns, exits, freezes and kills drawn as such. Writes, for X.jsonl,
X.sequence.md (Mermaid, shown by code forges) and X.sequence.html (SVG diagram, latency per
request, filter by request id; opens offline), beside it: two traces in one folder never
overwrite each other's pages, and the trace itself is never written. Long runs are cut after a
few hundred steps (the start, and the faults with what followed), and the files say so.
A file that is not a trace (a diagram, an empty file) is refused: exit 1, one line saying why.

Options:
  --out DIR      where to write (default: the trace file's folder)
  --title TEXT   the diagram's title (default: the trace file's name)`;

/** `main.ts trace`. */
export const traceCommand: Command = {
  summary: "render a run's trace as a sequence diagram (Markdown and HTML)",
  usage: USAGE,
  run: (args) => {
    const { values, positionals } = parse(args, {
      out: { type: "string" },
      title: { type: "string" },
    }, true);
    if (values.help) return Promise.resolve(usageShown(USAGE));
    if (positionals.length !== 1) throw new UsageError("give one trace file");
    const path = userPath(positionals[0]);
    try {
      if (!Deno.statSync(path).isFile) throw new CommandError(`${shown(path)} is not a file`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new CommandError(`no file ${shown(path)}`);
      throw e;
    }
    let events;
    try {
      events = readTraceChecked(path, shown(path));
    } catch (e) {
      if (e instanceof NotATraceError) throw new CommandError(e.message);
      throw e;
    }
    const dir = values.out === undefined
      ? path.slice(0, path.lastIndexOf("/")) || "/"
      : userPath(values.out);
    const outputs = Object.values(diagramPaths(path, dir));
    const inputs = traceFiles(path).map((f) => userPath(f));
    if (outputs.some((o) => inputs.includes(o))) {
      throw new CommandError(`writing the diagram would overwrite the trace; give --out DIR`);
    }
    writableDir(dir);
    const { markdown, html } = renderTrace(path, dir, {
      title: values.title ?? shown(path),
      events,
    });
    console.log(`sequence diagram: ${shown(markdown)}\nHTML page: ${shown(html)}`);
    return Promise.resolve(0);
  },
};
