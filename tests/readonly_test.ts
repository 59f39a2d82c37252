import assert from "node:assert/strict";
import { defaultRuntimeBase, SharedSegment } from "../ipc/mod.ts";
import * as libc from "../ipc/libc.ts";
import { CLI_PERMISSIONS } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** What a run could leave: entries of the runtime and temporary folders, and segments. */
function traces(): string[] {
  const folders = [...new Set([defaultRuntimeBase(), Deno.env.get("TMPDIR") || "/tmp"])];
  return [
    ...folders.flatMap((f) =>
      [...Deno.readDirSync(f)].filter((e) => e.name.startsWith("osps-")).map((e) =>
        `${f}/${e.name}`
      )
    ),
    ...SharedSegment.list("/osps-"),
  ].sort();
}

/**
 * `main.ts <args>` in a mount namespace of its own where the repository is mounted read-only, as
 * a read-only checkout would be (root bypasses file modes, so the mount is what makes it so).
 */
async function inReadOnlyCheckout(args: string[]): Promise<{ code: number; out: string }> {
  const command = [Deno.execPath(), "run", "--quiet", ...CLI_PERMISSIONS, "main.ts", ...args]
    .map((w) => `'${w}'`).join(" ");
  const unshare = libc.getuid() === 0 ? ["-m"] : ["-r", "-m"];
  const o = await new Deno.Command("unshare", {
    args: [
      ...unshare,
      "sh",
      "-c",
      `mount --bind -o ro '${ROOT}' '${ROOT}' && cd '${ROOT}' && ${command}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: o.code, out: `${text(o.stdout)}${text(o.stderr)}` };
}

Deno.test("a read-only checkout: one line saying what to do, exit 1, nothing left", async () => {
  const before = traces();
  for (const name of ["ideal", "pingpong", "worker-crash"]) {
    const { code, out } = await inReadOnlyCheckout(["scenario", name]);
    assert.equal(code, 1, out);
    assert.equal(
      out,
      `error: cannot write into out/${name}: read-only file system; give --out DIR to write ` +
        `somewhere else\n`,
    );
  }
  assert.deepEqual(traces(), before, "no directory, pipe or segment left");
});

Deno.test("--out DIR writes a scenario's files where it says, relative to where the user stands", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...CLI_PERMISSIONS, `${ROOT}/main.ts`, "scenario", "pingpong"]
        .concat(["--out", "here"]),
      cwd: dir,
      env: { INIT_CWD: dir },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const out = new TextDecoder().decode(o.stdout);
    assert.equal(o.code, 0, out);
    assert.match(out, /^files: trace here\/trace\.jsonl, diagram here\/trace\.sequence\.md, /m);
    assert.ok(Deno.statSync(`${dir}/here/trace.sequence.html`).isFile);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
