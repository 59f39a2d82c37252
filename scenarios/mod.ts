/**
 * Scripted runs of the system, importable for one-off experiments: the ping-pong exercise and the
 * leftover checks every run ends with.
 *
 * @module
 */

export * from "./pingpong.ts";
export * from "./proof.ts";
