/**
 * A file name as it may be shown: in logs, metric labels and CLI output. Names under the WAL
 * root can come from anyone with access to the volume; a control character in one (an escape
 * sequence, a newline, a bidirectional override) must not reach a terminal or a log line raw,
 * where it could rewrite what an operator sees. Such characters are written as `\u{…}`.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\\]/gu;

export function printableName(name: string): string {
  return name.replace(UNPRINTABLE, (c) => (c === '\\' ? '\\\\' : `\\u{${c.codePointAt(0)!.toString(16)}}`));
}
