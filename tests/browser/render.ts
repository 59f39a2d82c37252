// Headless Chromium for the browser tests: the DOM of a page after its scripts ran, and a
// screenshot of it.
/** Debian's Chromium, which .ci/run installs. */
export const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--hide-scrollbars",
];

/**
 * Chromium's DOM of `html` after its scripts ran, and a screenshot of it. Chromium keeps its
 * profile and its shared-memory files (`--disable-dev-shm-usage`: in TMPDIR, not /dev/shm, where
 * an exit that skips their unlinking leaves them) in a directory removed after.
 */
export async function render(html: string, dir: string): Promise<{ dom: string; png: Uint8Array }> {
  const profile = Deno.makeTempDirSync({ prefix: "osps-chromium-" });
  try {
    const run = (extra: string[]) =>
      new Deno.Command(CHROMIUM, {
        args: [
          ...FLAGS,
          "--disable-dev-shm-usage",
          `--user-data-dir=${profile}`,
          ...extra,
          `file://${html}`,
        ],
        env: { TMPDIR: profile },
        stdout: "piped",
        stderr: "null",
      }).output();
    const dom = new TextDecoder().decode((await run(["--dump-dom"])).stdout);
    await run([`--screenshot=${dir}/screenshot.png`, "--window-size=1400,1200"]);
    return { dom, png: Deno.readFileSync(`${dir}/screenshot.png`) };
  } finally {
    Deno.removeSync(profile, { recursive: true });
  }
}
