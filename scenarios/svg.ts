/**
 * What the toolkit's self-contained pages share to draw with: text made safe for HTML and SVG,
 * and round steps for an axis.
 *
 * @module
 */

/** `s` with the characters that mean something in HTML and XML escaped. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** Round steps for an axis from 0 to `max`: about five of them. */
export function axisTicks(max: number): number[] {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  return Array.from({ length: Math.floor(max / step) + 1 }, (_, i) => i * step);
}
