/**
 * The TCP reference peer of `bench stages`: listens on 127.0.0.1 (any free port), prints
 * `ready <port>`, and echoes every line back on its connection until the peer closes.
 *
 * @module
 */

import { ignoreGone } from "../roles/tcp.ts";

if (import.meta.main) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`ready ${listener.addr.port}`);
  for await (const conn of listener) {
    (async () => {
      const buf = new Uint8Array(65536);
      try {
        for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
          for (let at = 0; at < n;) at += await conn.write(buf.subarray(at, n));
        }
      } catch (e) {
        // Peer gone.
        ignoreGone(e);
      }
      conn.close();
    })();
  }
}
