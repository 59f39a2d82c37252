/**
 * Human-readable logs on stderr through LogTape, one category per role (`["osps", role]`).
 *
 * @module
 */

import {
  configureSync,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type Sink,
} from "@logtape/logtape";

const encoder = new TextEncoder();

/** Sends the `osps` log categories at `level` and above to stderr, synchronously. */
export function setupLogging(level: LogLevel): void {
  const format = getTextFormatter();
  const stderr: Sink = (record) => {
    Deno.stderr.writeSync(encoder.encode(format(record)));
  };
  configureSync({
    reset: true,
    sinks: { stderr },
    loggers: [
      { category: ["osps"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** The logger of one role (`ponger`, `dispatcher`, `worker`…). */
export function roleLogger(role: string): Logger {
  return getLogger(["osps", role]);
}
