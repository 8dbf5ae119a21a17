/**
 * OTLP values as Loki's OTLP ingestion writes them (the Collector's `pcommon.Value.AsString`),
 * masked as they are written:
 *
 * - strings as they are; booleans `true`/`false`; integers in decimal, exactly (64 bits);
 *   doubles as JavaScript and Go's JSON both print them; bytes in standard base64;
 * - maps and arrays as JSON: map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped (Go's
 *   encoder), a key given twice keeping its last value; an empty value as `null` inside JSON
 *   and as the empty string on its own.
 *
 * A map key's rule (the API key's masking policy) replaces its whole value, and a map that names
 * its value (`name` then `value`) masks it by that name; other strings and key names go through
 * the value patterns. Nesting is checked on the way down: a map or array deeper than `maxDepth`
 * stops the walk with a ValueTooDeep, so recursion is bounded by it.
 */
import { NAME_MEMBERS, VALUE_MEMBERS } from '../../masking/mask-value.js';
import { int64Value, type AnyValue, type KeyValue } from './otlp-proto.js';
import type { KeyRule, OtlpMasker } from './otlp-masking.js';

export class ValueTooDeep extends Error {
  constructor(readonly maxDepth: number) {
    super(`nests maps or arrays deeper than ${maxDepth} levels (limits.max_metadata_depth)`);
  }
}

export interface ValueContext {
  readonly masker: OtlpMasker;
  readonly maxDepth: number;
  readonly names: AttributeNames;
}

const GO_ESCAPES = /[<>&\u2028\u2029]/g;

function goJsonString(text: string): string {
  return JSON.stringify(text).replace(GO_ESCAPES, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** An integer value in decimal, masked when it may be a card number. */
function integerText(value: AnyValue, context: ValueContext): string {
  return context.masker.integer(int64Value(value.intValue).toString());
}

function doubleJson(value: number, context: ValueContext): string {
  const masked = context.masker.double(value);
  if (typeof masked === 'string') return goJsonString(masked);
  // Go's encoder refuses NaN and infinities; null keeps the document valid.
  return Number.isFinite(value) ? String(value) : 'null';
}

/** The JSON of a map or array at nesting level `depth` (1 for a body, 2 inside an attribute). */
function containerJson(value: AnyValue, context: ValueContext, depth: number): string {
  if (depth > context.maxDepth) throw new ValueTooDeep(context.maxDepth);
  if (value.value === 'arrayValue') {
    const items = value.arrayValue?.values ?? [];
    return `[${items.map((item) => valueJson(item, context, depth + 1)).join(',')}]`;
  }
  const members = new Map<string, string>();
  let named: KeyRule | undefined;
  for (const { key, value: member } of value.kvlistValue?.values ?? []) {
    const name = context.masker.text(key);
    named = namedBy(key, member, context, named);
    const rule = memberRule(context.masker.ruleFor(key), key, named);
    const json =
      rule === undefined || keepsLiteral(rule, member)
        ? valueJson(member, context, depth + 1)
        : goJsonString(context.masker.byRule(member?.value === 'stringValue' ? member.stringValue : null, rule));
    members.set(name, json);
  }
  const names = [...members.keys()].sort();
  return `{${names.map((name) => `${goJsonString(name)}:${members.get(name)}`).join(',')}}`;
}

/**
 * The rule a map's `name` member gives the `value` members after it (`{"name": "DB_PASSWORD",
 * "value": …}`: a Kubernetes env entry, a HAR header), as the engine reads such objects on the
 * other ways in (mask-value.ts).
 */
function namedBy(key: string, member: AnyValue | null, context: ValueContext, named: KeyRule | undefined): KeyRule | undefined {
  return NAME_MEMBERS.has(key) && member?.value === 'stringValue' ? context.masker.ruleFor(member.stringValue) : named;
}

/**
 * Under a name that also names counts and switches (`pass: 120`, `session: true`), a number, a
 * boolean or an empty value stays as it is, as in `metadata`; text is masked.
 */
function keepsLiteral(rule: KeyRule, value: AnyValue | null): boolean {
  if (rule.kind !== 'text') return false;
  const kind = value?.value;
  return kind === undefined || kind === 'intValue' || kind === 'doubleValue' || kind === 'boolValue';
}

function memberRule(own: KeyRule | undefined, key: string, named: KeyRule | undefined): KeyRule | undefined {
  return own ?? (named !== undefined && VALUE_MEMBERS.has(key) ? named : undefined);
}

/** `value` as a JSON value, inside a map or array at level `depth - 1`. */
function valueJson(value: AnyValue | null, context: ValueContext, depth: number): string {
  switch (value?.value) {
    case 'stringValue':
      return goJsonString(context.masker.text(value.stringValue));
    case 'boolValue':
      return value.boolValue ? 'true' : 'false';
    case 'intValue': {
      const text = integerText(value, context);
      return /^-?\d+$/.test(text) ? text : goJsonString(text);
    }
    case 'doubleValue':
      return doubleJson(value.doubleValue, context);
    case 'bytesValue':
      return goJsonString(context.masker.text(base64(value.bytesValue)));
    case 'arrayValue':
    case 'kvlistValue':
      return containerJson(value, context, depth);
    default:
      return 'null';
  }
}

/**
 * `value` as text, masked; `depth` is the level a map or array in it would be at. Throws
 * ValueTooDeep.
 */
export function valueText(value: AnyValue | null, context: ValueContext, depth: number): string {
  switch (value?.value) {
    case 'stringValue':
      return context.masker.text(value.stringValue);
    case 'boolValue':
      return value.boolValue ? 'true' : 'false';
    case 'intValue':
      return integerText(value, context);
    case 'doubleValue':
      return String(context.masker.double(value.doubleValue));
    case 'bytesValue':
      return context.masker.text(base64(value.bytesValue));
    case 'arrayValue':
    case 'kvlistValue':
      return containerJson(value, context, depth);
    default:
      return '';
  }
}

/** The value of a string body, else null; a string body is masked as a line, not as a value. */
export function stringBody(value: AnyValue | null): string | null {
  return value?.value === 'stringValue' ? value.stringValue : null;
}

const NOT_NAME_RUNE = /[^\p{L}\p{Nd}]/gu;
const DIGIT_FIRST = /^\p{Nd}/u;

/**
 * A label or structured metadata name from an attribute name, as Loki's OTLP ingestion makes it
 * (Prometheus' `otlptranslator.NormalizeLabel`): every rune other than a letter or digit becomes
 * `_`; a leading digit gets `key_` in front, a leading single `_` gets `key`.
 */
export function normalizeLabelName(name: string): string {
  if (name === '') return name;
  const sanitized = name.replace(NOT_NAME_RUNE, '_');
  if (DIGIT_FIRST.test(sanitized)) return `key_${sanitized}`;
  if (sanitized.startsWith('_') && !sanitized.startsWith('__')) return `key${sanitized}`;
  return sanitized;
}

export type Pairs = Array<readonly [name: string, value: string]>;

/** What an attribute's key becomes: its pair name, and the key rule its value is masked by. */
interface AttributeName {
  readonly name: string;
  readonly rule: KeyRule | undefined;
}

/**
 * Past this many names the cache starts over: a few MB at most. Services send the same
 * attribute keys record after record; the bound only keeps a client whose keys all differ
 * from growing memory.
 */
const MAX_CACHED_NAMES = 10_000;

/**
 * The names and rules of attribute keys under one masker, each worked out once: masking a key
 * by the value patterns and normalising it cost more than the rest of a short attribute.
 */
export class AttributeNames {
  readonly #masker: OtlpMasker;
  #names = new Map<string, AttributeName>();

  constructor(masker: OtlpMasker) {
    this.#masker = masker;
  }

  of(key: string, prefix: string): AttributeName {
    const id = prefix === '' ? key : `${prefix}\u0000${key}`;
    let known = this.#names.get(id);
    if (known === undefined) {
      const masked = this.#masker.text(key);
      known = { name: normalizeLabelName(prefix === '' ? masked : `${prefix}_${masked}`), rule: this.#masker.ruleFor(key) };
      if (this.#names.size >= MAX_CACHED_NAMES) this.#names = new Map();
      this.#names.set(id, known);
    }
    return known;
  }
}

/**
 * The pairs of one attribute, as Loki's `attributeToLabels`: a map is flattened, each key
 * joined to its parent's name with `_`; anything else is one pair of its text. A key rule
 * masks the whole value as one pair. `depth` is the level of the attribute list (1); `named` is
 * the rule a `name` member before it gives a `value` member of the same map.
 */
export function attributePairs(pairs: Pairs, attribute: KeyValue, prefix: string, context: ValueContext, depth: number, named?: KeyRule): void {
  const known = context.names.of(attribute.key, prefix);
  const { name } = known;
  const rule = memberRule(known.rule, attribute.key, named);
  const value = attribute.value;
  if (rule !== undefined && !keepsLiteral(rule, value)) {
    pairs.push([name, context.masker.byRule(value?.value === 'stringValue' ? value.stringValue : null, rule)]);
  } else if (value?.value === 'kvlistValue') {
    if (depth + 1 > context.maxDepth) throw new ValueTooDeep(context.maxDepth);
    let inner: KeyRule | undefined;
    for (const member of value.kvlistValue?.values ?? []) {
      inner = namedBy(member.key, member.value, context, inner);
      attributePairs(pairs, member, name, context, depth + 1, inner);
    }
  } else {
    pairs.push([name, valueText(value, context, depth + 1)]);
  }
}
