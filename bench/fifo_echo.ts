/**
 * The echo peer of `bench ipc`: copies every byte from one named pipe to another with blocking
 * reads and writes, until EOF. Usage: `fifo_echo.ts <in-fifo> <out-fifo>`.
 *
 * @module
 */

if (import.meta.main) {
  const [inPath, outPath] = Deno.args;
  using input = Deno.openSync(inPath, { read: true });
  using output = Deno.openSync(outPath, { write: true });
  const buf = new Uint8Array(65536);
  for (let n = input.readSync(buf); n !== null; n = input.readSync(buf)) {
    output.writeSync(buf.subarray(0, n));
  }
}
