/**
 * The input limits every way in applies alike (`limits` in the configuration), and the helpers
 * they are checked with.
 */
import type { Config } from '../config/schema.js';

export type Limits = Config['limits'];

/**
 * Keys that reach `Object.prototype` when a consumer assigns through them onto a plain object.
 * LogStack itself never does (null-prototype objects), but the entries travel on to Loki and to
 * whatever reads Loki, so such a key is refused rather than passed along.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Whether `text` is longer than `maxBytes` in UTF-8, without encoding it unless it must. */
export function utf8ExceedsBytes(text: string, maxBytes: number): boolean {
  // A UTF-16 unit takes 1 to 3 UTF-8 bytes, so the exact count is needed only in between.
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(text, 'utf8') > maxBytes;
}
