/**
 * A Loki log entry as LogStack stores and ships it: the exact nanosecond timestamp, the
 * stream's label set, the (masked) line and structured metadata. Everything a redelivery needs
 * to be byte-identical, so that Loki drops it as a duplicate.
 */

/** Name–value pairs in the order the client sent them. */
export type LabelPairs = ReadonlyArray<readonly [name: string, value: string]>;

export interface LokiEntry {
  /** Whole seconds since the Unix epoch. */
  seconds: number;
  /** 0 ≤ nanos < 1e9. */
  nanos: number;
  /** Canonical label set, as `formatLabels` writes it. */
  labels: string;
  line: string;
  structuredMetadata: ReadonlyArray<readonly [name: string, value: string]>;
}

function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * The Prometheus text form Loki parses, names sorted so that equal sets give equal strings
 * (the forwarder groups entries into streams by this string).
 */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  return `{${names.map((name) => `${name}="${escapeLabelValue(labels[name]!)}"`).join(', ')}}`;
}

const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/gy;

/** Inverse of `formatLabels`; throws on anything it did not write. */
export function parseLabels(text: string): Record<string, string> {
  if (!text.startsWith('{') || !text.endsWith('}')) throw new SyntaxError(`not a label set: ${text}`);
  const out: Record<string, string> = Object.create(null);
  const body = text.slice(1, -1);
  let pos = 0;
  while (pos < body.length) {
    LABEL_PAIR.lastIndex = pos;
    const m = LABEL_PAIR.exec(body);
    if (!m) throw new SyntaxError(`not a label set: ${text}`);
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    pos = LABEL_PAIR.lastIndex;
    if (body.startsWith(', ', pos)) pos += 2;
    else if (pos < body.length) throw new SyntaxError(`not a label set: ${text}`);
  }
  return out;
}

/** Nanoseconds since the epoch as the decimal string Loki's JSON push expects. */
export function timestampNs(seconds: number, nanos: number): string {
  if (seconds === 0) return String(nanos);
  return `${seconds}${String(nanos).padStart(9, '0')}`;
}
