import assert from "node:assert/strict";
import { isTraceEventKind, TRACE_EVENTS } from "../roles/mod.ts";
import { EXPERIMENTS } from "../scenarios/mod.ts";
import { cliCommand } from "./helpers.ts";

// The docs that state what the code declares: each is checked against the declaration.

Deno.test("every event kind is documented in docs/architecture.md, and nothing else is", () => {
  const doc = Deno.readTextFileSync(new URL("../docs/architecture.md", import.meta.url));
  const from = doc.indexOf("### The trace's vocabulary");
  const section = doc.slice(from, doc.indexOf("\n## ", from));
  const documented = [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...Object.keys(TRACE_EVENTS), "inject <SIGNAL>"]);
  assert.ok(documented.slice(0, -1).every(isTraceEventKind));
});

Deno.test("the French lab guide names only tasks, experiments, options and files that exist", async () => {
  const guide = Deno.readTextFileSync(new URL("../docs/fr/guide.md", import.meta.url));
  const config = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const tasks: Record<string, string> = config.tasks;
  // Each command the guide shows: `deno task <task> [words] [--options]`, up to a comment.
  const commands = [...guide.matchAll(/deno task ([a-z][a-z0-9:-]*)([^`#\n]*)/g)];
  assert.ok(commands.length >= 25, `${commands.length} commands`);
  const helps = new Map<string, string>();
  for (const [, task, rest] of commands) {
    assert.ok(task in tasks, `deno task ${task}: no such task`);
    // What follows "--" is the user's own command's, not the task's.
    const all = rest.trim().split(/\s+/).filter((w) => w !== "");
    const words = all.includes("--") ? all.slice(0, all.indexOf("--")) : all;
    if (task === "experiment") {
      const name = words[0];
      assert.ok(name === "all" || (EXPERIMENTS as readonly string[]).includes(name), name);
    }
    const options = words.filter((w) => w.startsWith("--"));
    if (options.length === 0) continue;
    // The task's own --help lists every option the guide gives it.
    const args = [...tasks[task].replace(/^deno task osps ?/, "").split(" "), "--help"]
      .filter((a) => a !== "");
    const key = args.join(" ");
    if (!helps.has(key)) {
      const out = await cliCommand(args).output();
      helps.set(key, new TextDecoder().decode(out.stdout));
    }
    for (const option of options) {
      assert.match(helps.get(key)!, new RegExp(`${option}\\b`), `deno task ${task} ${option}`);
    }
  }
  for (const [, link] of guide.matchAll(/\]\(([^)#]+)\)/g)) {
    const target = new URL(link, new URL("../docs/fr/guide.md", import.meta.url));
    assert.ok(Deno.statSync(target), `${link} exists`);
  }
  for (const [, name] of guide.matchAll(/deno task experiment:([a-z-]+)/g)) {
    assert.ok((EXPERIMENTS as readonly string[]).includes(name), name);
  }
});
