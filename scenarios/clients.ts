/**
 * Clients against a running system: N concurrent clients, each sending its lines one after the
 * other over one dispatcher connection, and every request recorded with its answer.
 *
 * @module
 */

import { answerLine, OspsClient } from "../roles/client.ts";
import type { Stage } from "../roles/stages.ts";

/** One request sent by {@link runClients} and what came back. */
export interface RequestRecord {
  /** Client number, from 1. */
  client: number;
  /** The request line. */
  line: string;
  /** What came back (`OK …` or `ERR <code> …`), or null if nothing did. */
  got: string | null;
  /** Why nothing came back. */
  failure?: string;
  /** From send to answer, ms. */
  latencyMs: number;
  /** When it was sent, ms on this process's clock (`performance.now()`), where recorded. */
  sentAt?: number;
  /** Times the client had to send it again (lost connections, vanished workers). */
  retries?: number;
}

/** How {@link runClients} runs its clients. */
export interface RunClientsOptions {
  /** The system's stage, if known: the clients then announce LISTEN only where it is needed. */
  stage?: Stage;
  /** Aborting it stops sending: each client ends after its request in flight. */
  signal?: AbortSignal;
}

/**
 * Runs `clients` concurrent clients against the system, client `c` sending `lines(c)` one after
 * the other over one dispatcher connection. Returns every request sent with its answer; a client
 * that loses its connection for good has its remaining requests recorded with `got: null`.
 */
export async function runClients(
  port: number,
  clients: number,
  lines: (c: number) => string[],
  options: RunClientsOptions = {},
): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    const c = i + 1;
    const mine = lines(c);
    let done = 0;
    let client: OspsClient | null = null;
    try {
      client = await OspsClient.connect({
        port,
        name: `client ${c}`,
        retries: 2,
        stage: options.stage,
      });
      for (const line of mine) {
        if (options.signal?.aborted) break;
        const t = performance.now();
        const got = answerLine(await client.request(line));
        records.push({ client: c, line, got, latencyMs: performance.now() - t });
        done++;
      }
    } catch (e) {
      for (const line of mine.slice(done)) {
        records.push({ client: c, line, got: null, failure: String(e), latencyMs: 0 });
      }
    } finally {
      await client?.close();
    }
  }));
  return records;
}
