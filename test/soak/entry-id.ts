/**
 * Where a soak entry carries its key and id: at the start of its message, `soak k<key> <id> …`.
 * With `loki.metadata_mode: structured_metadata` (the default) the message is Loki's line as is,
 * so the receiver reads both straight from the pushed bytes without making a string.
 */

export function entryMessagePrefix(key: number, id: number): string {
  return `soak k${key} ${id} `;
}

const PREFIX = [0x73, 0x6f, 0x61, 0x6b, 0x20, 0x6b]; // "soak k"
const SPACE = 0x20;

/** Fills `into` with the key and id of the line in `buf[start, end)`; false when it is not a soak line. */
export function readEntryId(buf: Uint8Array, start: number, end: number, into: { key: number; id: number }): boolean {
  let p = start;
  for (const byte of PREFIX) if (p >= end || buf[p++] !== byte) return false;
  let key = 0;
  let digits = 0;
  while (p < end && buf[p]! >= 0x30 && buf[p]! <= 0x39) {
    key = key * 10 + buf[p++]! - 0x30;
    digits++;
  }
  if (digits === 0 || p >= end || buf[p++] !== SPACE) return false;
  let id = 0;
  digits = 0;
  while (p < end && buf[p]! >= 0x30 && buf[p]! <= 0x39 && digits < 15) {
    id = id * 10 + buf[p++]! - 0x30;
    digits++;
  }
  if (digits === 0 || (p < end && buf[p] !== SPACE)) return false;
  into.key = key;
  into.id = id;
  return true;
}
