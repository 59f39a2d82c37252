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
  parseLogLevel,
  type Sink,
} from "@logtape/logtape";

const encoder = new TextEncoder();

/**
 * Sends the `osps` log categories at `level` (trace, debug, info, warning, error, fatal) and above
 * to stderr, synchronously. An unknown level throws a TypeError.
 */
export function setupLogging(level: string): void {
  const format = getTextFormatter();
  const stderr: Sink = (record) => {
    Deno.stderr.writeSync(encoder.encode(format(record)));
  };
  configureSync({
    reset: true,
    sinks: { stderr },
    loggers: [
      { category: ["osps"], lowestLevel: parseLogLevel(level), sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** The logger of one role (`ponger`, `dispatcher`, `worker`…). */
export function roleLogger(role: string): Logger {
  return getLogger(["osps", role]);
}
