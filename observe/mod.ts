/**
 * The live observer of a running instance (`main.ts up --observe [HOST:]PORT`): a page that shows
 * every role, the messages and the watchdog's reactions as they happen, and lets its user send
 * signals to the roles and run a load from the browser. It runs in the watchdog's process.
 *
 * @module
 */

export { LOAD_MIXES, type LoadMix, type LoadSecond, type LoadState } from "./load.ts";
export { type Hello, MAX_TRACE_RATE, type StatsSecond } from "./feed.ts";
export { MAX_LOAD_CLIENTS, Observer, type ObserverOptions, PAGE_SIGNALS } from "./server.ts";
export { observeAddress } from "./address.ts";
export { type TailRead, type TailSample, TraceTail } from "./trace_tail.ts";
