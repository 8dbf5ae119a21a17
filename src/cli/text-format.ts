/** How the CLI writes sizes, ages and tables for a terminal. */

/** `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** `42s`, `3m 5s`, `2h 10m`, `4d 1h`: the two largest units. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** `12,400`: counts are read at a glance. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Columns padded to their widest cell, two spaces apart; no trailing blanks. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

// C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates: from a terminal's
// point of view, commands (move the cursor, retitle the window, hide text, reorder a line).
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_NEWLINE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

function escaped(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text from the service (a client's line or labels, Loki's message) as a terminal shows it
 * literally: every control character written as an escape (`\x1b`, `\u202e`). `lines` keeps
 * newlines, for text that is ours and several lines long.
 */
export function printable(text: string, lines = false): string {
  return text.replace(lines ? CONTROLS_BUT_NEWLINE : CONTROLS, escaped);
}
