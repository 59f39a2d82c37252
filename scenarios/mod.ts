/**
 * Scripted runs of the system, importable for one-off experiments: the harness that starts and
 * stops a system, the ping-pong exercise, the stage scenarios, the trace timeline, and the
 * leftover checks every run ends with.
 *
 * @module
 */

export * from "./chaos.ts";
export * from "./checks.ts";
export * from "./clients.ts";
export * from "./diagram.ts";
export * from "./diagram_render.ts";
export * from "./experiments.ts";
export * from "./experiment_run.ts";
export * from "./experiment_picture.ts";
export * from "./experiment_page.ts";
export * from "./failures.ts";
export * from "./fuzz.ts";
export * from "./harness.ts";
export * from "./load.ts";
export * from "./operations.ts";
export * from "./pingpong.ts";
export * from "./proof.ts";
export * from "./soak.ts";
export * from "./stages.ts";
export * from "./svg.ts";
export * from "./timeline.ts";
