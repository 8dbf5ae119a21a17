/**
 * Masking of values by a policy: a value under a masked key by its key rule, and every other
 * string by the value patterns, at any depth of objects and arrays. Keys are never rewritten,
 * only values. The input is never mutated: masking builds new objects.
 */
import type { KeyRule, MaskingPolicy } from './policy.js';
import { keepPrefix, maskEmail } from './partial-masks.js';

/** Name–value pairs: Loki labels, structured metadata. */
export type Pairs = ReadonlyArray<readonly [name: string, value: string]>;

/** What a value masked by key `rule` becomes. */
export function maskByRule(value: unknown, rule: KeyRule, policy: MaskingPolicy): string {
  if (typeof value !== 'string' || rule.kind === 'full') return policy.replacement;
  const partial = rule.kind === 'mask_email' ? maskEmail(value, policy.replacement) : keepPrefix(value, rule.keep, policy.replacement);
  // The kept part is client text like any other: a prefix may still hold a card number.
  return policy.maskText(partial);
}

/**
 * Plain objects, not null-prototype ones: V8 keeps those in dictionary mode, three times slower
 * to build and twice as slow to serialise. Of all keys only `__proto__` does something when
 * assigned on a plain object (it sets the prototype), so that one is defined, never assigned.
 */
export function maskObject(value: Readonly<Record<string, unknown>>, policy: MaskingPolicy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // for-in with an own check, not Object.keys: no array of keys per object of every entry.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const rule = policy.ruleFor(key);
    const masked = rule === undefined ? maskValue(value[key], policy) : maskByRule(value[key], rule, policy);
    if (key === '__proto__') Object.defineProperty(out, key, { value: masked, enumerable: true, writable: true, configurable: true });
    else out[key] = masked;
  }
  return out;
}

/**
 * A JSON number of 13 or more digits may be a card number sent unquoted; it is checked as
 * text and becomes the masked string if it is one.
 */
function maskNumber(value: number, policy: MaskingPolicy): number | string {
  if (!Number.isInteger(value) || Math.abs(value) < 1e12 || Math.abs(value) >= 1e19) return value;
  const text = String(value);
  const masked = policy.maskText(text);
  return masked === text ? value : masked;
}

/**
 * A value that is not an object or array, masked by the value patterns: strings, and numbers
 * that may be card numbers; anything else as it is. Masking a copy and flattening metadata into
 * Loki pairs (to-loki-entry.ts) both mask their leaves here.
 */
export function maskScalar(value: unknown, policy: MaskingPolicy): unknown {
  if (typeof value === 'string') return policy.maskText(value);
  if (typeof value === 'number') return maskNumber(value, policy);
  return value;
}

function maskValue(value: unknown, policy: MaskingPolicy): unknown {
  if (typeof value !== 'object' || value === null) return maskScalar(value, policy);
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = maskValue(value[i], policy);
    return out;
  }
  return maskObject(value as Record<string, unknown>, policy);
}

/** Label or structured metadata values masked by their name's rule, else by the value patterns. */
export function maskPairs(pairs: Pairs, policy: MaskingPolicy): Pairs {
  return pairs.map(([name, value]) => {
    const rule = policy.ruleFor(name);
    return [name, rule === undefined ? policy.maskText(value) : maskByRule(value, rule, policy)] as const;
  });
}
