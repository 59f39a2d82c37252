/**
 * The Deno side of `bench floors`: the least a TCP server can do for one request, with
 * `Deno.listen` as the roles use it. `connection`: accept, read one line, write one line, close
 * (a worker's part in client-calls-worker); `kept`: on connections that stay open, a line written
 * for every line read (the dispatcher's part with its clients). Prints `ready <port>`.
 *
 * Usage: `floor_server.ts connection|kept`
 *
 * @module
 */

import { ignoreGone } from "../roles/tcp.ts";

const REPLY = new TextEncoder().encode("OK floor\n");

async function serve(conn: Deno.Conn, kept: boolean): Promise<void> {
  const buf = new Uint8Array(4096);
  try {
    do {
      if (await conn.read(buf) === null) break;
      await conn.write(REPLY);
    } while (kept);
  } catch (e) {
    // The peer reset the connection: nothing to answer.
    ignoreGone(e);
  }
  conn.close();
}

if (import.meta.main) {
  const kept = Deno.args[0] === "kept";
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`ready ${listener.addr.port}`);
  for await (const conn of listener) serve(conn, kept);
}
