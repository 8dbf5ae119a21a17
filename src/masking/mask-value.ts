/**
 * The engine's entry points for values: what any way in (`/v1/logs:ingest`, Loki's push API,
 * OTLP) calls with the policy of the key that sent them.
 *
 * - a text (a message, a line, a log body): `policy.maskText`;
 * - a named value (a label, a structured metadata pair, an attribute): `maskNamedValue`, or
 *   `maskPairs` for a list of them;
 * - a JSON-like tree (metadata, a map body): `maskTree` / `maskObject`, by key at any depth, and
 *   the value of an object that names it (`{"name": "DB_PASSWORD", "value": "…"}`) by that name;
 * - a number a client sent (a card number unquoted): `maskScalar`.
 *
 * Keys are never rewritten, only values. The input is never mutated: masking builds new objects.
 */
import { keepPrefix, keepScheme, maskCookies, maskEmail } from './partial-masks.js';
import type { KeyRule, MaskingPolicy } from './policy.js';

/** Name–value pairs: Loki labels, structured metadata. */
export type Pairs = ReadonlyArray<readonly [name: string, value: string]>;

/**
 * Deeper trees are masked whole: the walk is recursive, and the ways in bound nesting well
 * below this (`limits.max_metadata_depth`); what cannot be walked cannot be shown.
 */
const MAX_TREE_DEPTH = 256;

/** A text that writes a number, a boolean or null. */
const LITERAL = /^(?:-?\d+(?:\.\d+)?|true|false|null)$/;

/** What a value masked by key `rule` becomes: a string, or `value` itself when the rule keeps it. */
export function maskByRule(value: string, rule: KeyRule, policy: MaskingPolicy): string;
export function maskByRule(value: unknown, rule: KeyRule, policy: MaskingPolicy): unknown;
export function maskByRule(value: unknown, rule: KeyRule, policy: MaskingPolicy): unknown {
  if (rule.kind === 'text' && (value === null || typeof value === 'number' || typeof value === 'boolean' || (typeof value === 'string' && LITERAL.test(value)))) return value;
  if (typeof value !== 'string' || rule.kind === 'full' || rule.kind === 'text' || value === policy.replacement) return policy.replacement;
  let partial: string;
  switch (rule.kind) {
    case 'mask_email':
      partial = maskEmail(value, policy.replacement);
      break;
    case 'keep_prefix':
      partial = keepPrefix(value, rule.keep, policy.replacement);
      break;
    case 'keep_scheme':
      partial = keepScheme(value, policy.replacement);
      break;
    case 'cookies':
      partial = maskCookies(value, policy.replacement);
      break;
  }
  // The kept part is client text like any other: a prefix may still hold a card number.
  return partial === policy.replacement ? partial : policy.maskText(partial);
}

/** A string value named `name`: by the name's key rule, else by the text rules. */
export function maskNamedValue(name: string, value: string, policy: MaskingPolicy): string {
  const rule = policy.ruleFor(name);
  return rule === undefined ? policy.maskText(value) : maskByRule(value, rule, policy);
}

/** Label or structured metadata values masked by their name's rule, else by the text rules. */
export function maskPairs(pairs: Pairs, policy: MaskingPolicy): Pairs {
  return pairs.map(([name, value]) => [name, maskNamedValue(name, value, policy)] as const);
}

/**
 * A value that is not an object or array, masked by the text rules: strings, and numbers that
 * may be card numbers; anything else as it is. Masking a copy and flattening metadata into Loki
 * pairs (to-loki-entry.ts) both mask their leaves here.
 */
export function maskScalar(value: unknown, policy: MaskingPolicy): unknown {
  if (typeof value === 'string') return policy.maskText(value);
  if (typeof value === 'number') return policy.maskNumber(value);
  return value;
}

/**
 * Plain objects, not null-prototype ones: V8 keeps those in dictionary mode, three times slower
 * to build and twice as slow to serialise. Of all keys only `__proto__` does something when
 * assigned on a plain object (it sets the prototype), so that one is defined, never assigned.
 */
function maskMembers(value: Readonly<Record<string, unknown>>, policy: MaskingPolicy, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let named: KeyRule | undefined;
  // for-in with an own check, not Object.keys: no array of keys per object of every entry.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const member = value[key];
    named = namedBy(key, member, policy, named);
    const rule = memberRule(key, named, policy);
    const masked = rule === undefined ? maskAt(member, policy, depth + 1) : maskByRule(member, rule, policy);
    if (key === '__proto__') Object.defineProperty(out, key, { value: masked, enumerable: true, writable: true, configurable: true });
    else out[key] = masked;
  }
  return out;
}

/**
 * Members of an object that names its value (`{"name": "DB_PASSWORD", "value": "…"}`: a
 * Kubernetes or ECS environment variable, a HAR header, a CloudFormation parameter): the value
 * is masked by the name's rule, when the name comes first.
 */
export const NAME_MEMBERS: ReadonlySet<string> = new Set(['name', 'Name', 'key', 'Key']);
export const VALUE_MEMBERS: ReadonlySet<string> = new Set(['value', 'Value']);

/**
 * The rule an object's `name` member gives the `value` members after it, as its members are
 * read in order: `named` until a `name` member holds a string. Masking a copy and flattening
 * metadata into Loki pairs (to-loki-entry.ts) both read objects this way.
 */
export function namedBy(key: string, member: unknown, policy: MaskingPolicy, named: KeyRule | undefined): KeyRule | undefined {
  return NAME_MEMBERS.has(key) && typeof member === 'string' ? policy.ruleFor(member) : named;
}

/** The rule of member `key`: its own name's, else, for a `value` member, the one `named` (namedBy). */
export function memberRule(key: string, named: KeyRule | undefined, policy: MaskingPolicy): KeyRule | undefined {
  return policy.ruleFor(key) ?? (named !== undefined && VALUE_MEMBERS.has(key) ? named : undefined);
}

function maskAt(value: unknown, policy: MaskingPolicy, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return maskScalar(value, policy);
  if (depth > MAX_TREE_DEPTH) return policy.replacement;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = maskAt(value[i], policy, depth + 1);
    return out;
  }
  return maskMembers(value as Record<string, unknown>, policy, depth);
}

/** A masked copy of an object (`metadata`, a map body). */
export function maskObject(value: Readonly<Record<string, unknown>>, policy: MaskingPolicy): Record<string, unknown> {
  return maskMembers(value, policy, 1);
}

/** A masked copy of any JSON-like value. */
export function maskTree(value: unknown, policy: MaskingPolicy): unknown {
  return maskAt(value, policy, 0);
}
