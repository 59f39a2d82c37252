/**
 * `main.ts trace <trace-file>`: renders a run's trace as a sequence diagram, in Markdown (Mermaid)
 * and as a self-contained HTML page.
 *
 * @module
 */

import { renderTrace } from "../scenarios/mod.ts";
import { type Command, parse, UsageError } from "./common.ts";

const USAGE = `Usage: main.ts trace <trace-file> [--out DIR] [--title TEXT]

Renders a run's trace (one JSON object per line, as every role writes it; with the older
<trace-file>.1 a bounded trace was rotated to, when there is one) as a sequence diagram:
one lifeline per role instance (client k, dispatcher, worker k, watchdog), one arrow per message
labelled with what it carried and its channel (tcp, fifo, shm), the watchdog's spawns, exits,
freezes and kills drawn as such. Writes DIR/sequence.md (Mermaid, shown by code forges) and
DIR/sequence.html (SVG diagram, latency per request, filter by request id; opens offline).
Long runs are cut after a few hundred steps, and the files say so.

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
    if (values.help) {
      console.log(USAGE);
      return Promise.resolve(0);
    }
    if (positionals.length !== 1) throw new UsageError("give one trace file");
    const path = positionals[0];
    try {
      if (!Deno.statSync(path).isFile) throw new UsageError(`${path} is not a file`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new UsageError(`no trace file ${path}`);
      throw e;
    }
    const dir = values.out ?? (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".");
    const { markdown, html } = renderTrace(path, dir, values.title ?? path);
    console.log(`sequence diagram: ${markdown}\nHTML page: ${html}`);
    return Promise.resolve(0);
  },
};
