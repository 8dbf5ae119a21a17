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

/**
 * The UTF-16 units past which text (a line, a value, a set of values) is refused before it is
 * masked for a limit of `maxBytes` after masking: masking it would cost time that grows with it
 * (a 5 MB `Cookie:` header is seconds of one synchronous call) only to refuse it after.
 *
 * Masking can shorten text: a secret becomes `****`, whatever its length. So text a little over
 * its limit may fit once masked, and is masked and checked after, as before. To fit, text over
 * this bound would have to be more than three quarters secret by length plus 64 KiB — the secrets
 * services leak are tokens, passwords, cookies and keys of a few kilobytes at most (a PEM RSA-4096
 * key is about 3.3 kB), so no log line, value or label of normal use is refused here that the
 * check after masking would take. A UTF-16 unit is at least one UTF-8 byte, so counting units
 * never refuses text within the bound in bytes, and costs no encoding.
 */
export function overBeforeMasking(units: number, maxBytes: number): boolean {
  return units > unitsBeforeMasking(maxBytes);
}

/** The most UTF-16 units text is masked at for a limit of `maxBytes` after: see overBeforeMasking. */
export function unitsBeforeMasking(maxBytes: number): number {
  return 4 * maxBytes + 65536;
}
