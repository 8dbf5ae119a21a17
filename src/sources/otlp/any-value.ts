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
import { utf8ExceedsBytes } from '../../pipeline/limits.js';
import type { KeyRule, OtlpMasker } from './otlp-masking.js';
import { int64Value, type AnyValue, type KeyValue } from './otlp-proto.js';

/**
 * A value or attribute refused while it is walked, before the rest of it costs anything. The
 * message follows "an attribute" or "its body" in a problem.
 */
export class ValueRefused extends Error {}

export class ValueTooDeep extends ValueRefused {
  readonly maxDepth: number;
  constructor(maxDepth: number) {
    super(`nests maps or arrays deeper than ${maxDepth} levels (limits.max_metadata_depth)`);
    this.maxDepth = maxDepth;
  }
}

/** Loki's limits an attribute is held to while it is flattened. */
export interface AttributeLimits {
  /** UTF-8 bytes of an attribute key (a map member's key too): `loki_push.max_label_name_length`. */
  readonly maxKeyBytes: number;
  /** Pairs of one list of structured metadata: `limits.max_metadata_keys`. */
  readonly maxPairs: number;
  /** Bytes of the pairs one attribute flattens to: `limits.max_structured_metadata_bytes`. */
  readonly maxBytes: number;
}

export interface ValueContext {
  readonly masker: OtlpMasker;
  readonly maxDepth: number;
  readonly limits: AttributeLimits;
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

/**
 * UTF-16 units of the text masking would be given for `value` at level `depth` (its strings, map
 * keys, bytes as their base64), counted without masking anything: a value too long for masking
 * to bring under its limit is refused before it is masked. Levels past `maxDepth` are not
 * counted: the walk that masks refuses them before masking anything in them.
 */
export function rawUnits(value: AnyValue | null, depth: number, maxDepth: number): number {
  switch (value?.value) {
    case 'stringValue':
      return value.stringValue.length;
    case 'bytesValue':
      return Math.ceil(value.bytesValue.byteLength / 3) * 4;
    case 'arrayValue':
    case 'kvlistValue': {
      if (depth > maxDepth) return 0;
      let units = 0;
      if (value.value === 'arrayValue') for (const item of value.arrayValue?.values ?? []) units += rawUnits(item, depth + 1, maxDepth);
      else for (const member of value.kvlistValue?.values ?? []) units += member.key.length + rawUnits(member.value, depth + 1, maxDepth);
      return units;
    }
    default:
      return 0;
  }
}

/** rawUnits of a list of attributes at level `depth`, keys included. */
export function attributesUnits(attributes: readonly KeyValue[], depth: number, maxDepth: number): number {
  let units = 0;
  for (const attribute of attributes) units += attribute.key.length + rawUnits(attribute.value, depth + 1, maxDepth);
  return units;
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

/**
 * What an attribute's key becomes: its pair name, the key rule its value is masked by, and the
 * names of its members when its value is a map.
 */
interface AttributeName {
  readonly name: string;
  readonly rule: KeyRule | undefined;
  members?: Map<string, AttributeName>;
}

/**
 * Past this many bytes the cache starts over. Services send the same attribute keys record after
 * record; the bound keeps a client whose keys all differ, or are long, from growing memory. In
 * entries it would not: a nested key's name repeats every key above it (kilobytes each).
 */
const MAX_CACHED_NAME_BYTES = 2 * 1024 * 1024;
/** What a cached name costs beyond its characters (UTF-16, 2 bytes each): the map entry and its object. */
const ENTRY_OVERHEAD_BYTES = 96;

/**
 * The names and rules of attribute keys under one masker, each worked out once: masking a key
 * by the value patterns and normalising it cost more than the rest of a short attribute. A map
 * member's name is found under its parent's, by its own key: no lookup hashes the keys above it.
 * Bounded in bytes; what a rejected record taught it is taken out again (`abandon`), so that
 * input Loki would refuse never stays in memory.
 */
export class AttributeNames {
  readonly #masker: OtlpMasker;
  readonly #maxKeyBytes: number;
  #top = new Map<string, AttributeName>();
  /** Bytes of the names kept (committed). */
  #bytes = 0;
  /** Where names were added since the last commit, and their bytes. */
  #added: Array<[Map<string, AttributeName>, string]> = [];
  #addedBytes = 0;

  constructor(masker: OtlpMasker, maxKeyBytes: number) {
    this.#masker = masker;
    this.#maxKeyBytes = maxKeyBytes;
  }

  /**
   * The name of `key`, an attribute's (`parent` null) or a member of `parent`'s map. Throws
   * ValueRefused for a key over `maxKeyBytes`, before the key is copied into anything.
   */
  of(key: string, parent: AttributeName | null): AttributeName {
    if (utf8ExceedsBytes(key, this.#maxKeyBytes)) throw new ValueRefused(`has a key longer than ${this.#maxKeyBytes} UTF-8 bytes (loki_push.max_label_name_length)`);
    const names = parent === null ? this.#top : (parent.members ??= new Map());
    let known = names.get(key);
    if (known === undefined) {
      const masked = this.#masker.text(key);
      // A parent's name is normalised already: only the member's part needs it.
      const name = parent === null || parent.name === '' ? normalizeLabelName(masked) : `${parent.name}_${masked.replace(NOT_NAME_RUNE, '_')}`;
      known = { name, rule: this.#masker.ruleFor(key) };
      const bytes = ENTRY_OVERHEAD_BYTES + 2 * (key.length + name.length);
      if (this.#bytes + this.#addedBytes + bytes > MAX_CACHED_NAME_BYTES) this.#clear();
      names.set(key, known);
      this.#added.push([names, key]);
      this.#addedBytes += bytes;
    }
    return known;
  }

  /** The record that used the names added since the last call was accepted: they are kept. */
  commit(): void {
    this.#bytes += this.#addedBytes;
    this.#added = [];
    this.#addedBytes = 0;
  }

  /** The names added since the last commit served no accepted record: they are taken out. */
  abandon(): void {
    for (const [names, key] of this.#added) names.delete(key);
    this.#added = [];
    this.#addedBytes = 0;
  }

  #clear(): void {
    this.#top = new Map();
    this.#bytes = 0;
    // What was added since the last commit went with the maps it was added to.
    this.#added = [];
    this.#addedBytes = 0;
  }
}

/**
 * The pairs of one attribute, as Loki's `attributeToLabels`: a map is flattened, each key
 * joined to its parent's name with `_`; anything else is one pair of its text. A key rule
 * masks the whole value as one pair. `depth` is the level of the attribute list (1).
 *
 * Throws ValueRefused for a key over its limit, and as soon as a map has flattened to more pairs
 * than a record may carry, or to more bytes: every member's name repeats its parent's, so a map
 * of a few bytes a member would otherwise make names of the parent's length, one per member.
 */
export function attributePairs(pairs: Pairs, attribute: KeyValue, context: ValueContext, depth: number): void {
  flattenAttribute(pairs, attribute, null, context, depth, { units: 0 }, undefined);
}

/**
 * `flattened.units`: UTF-16 units of the pairs this attribute made so far, a lower bound of their
 * UTF-8 bytes. `named` is the rule a `name` member before it gives a `value` member of the same map.
 */
function flattenAttribute(pairs: Pairs, attribute: KeyValue, parent: AttributeName | null, context: ValueContext, depth: number, flattened: { units: number }, named: KeyRule | undefined): void {
  const known = context.names.of(attribute.key, parent);
  const { name } = known;
  const rule = memberRule(known.rule, attribute.key, named);
  const value = attribute.value;
  if (rule !== undefined && !keepsLiteral(rule, value)) {
    pairs.push([name, context.masker.byRule(value?.value === 'stringValue' ? value.stringValue : null, rule)]);
  } else if (value?.value === 'kvlistValue') {
    if (depth + 1 > context.maxDepth) throw new ValueTooDeep(context.maxDepth);
    const { maxPairs, maxBytes } = context.limits;
    let inner: KeyRule | undefined;
    for (const member of value.kvlistValue?.values ?? []) {
      inner = namedBy(member.key, member.value, context, inner);
      const before = pairs.length;
      flattenAttribute(pairs, member, known, context, depth + 1, flattened, inner);
      for (let i = before; i < pairs.length; i++) flattened.units += pairs[i]![0].length + pairs[i]![1].length;
      if (pairs.length > maxPairs) throw new ValueRefused(`flattens to more than ${maxPairs} structured metadata pairs (limits.max_metadata_keys)`);
      if (flattened.units > maxBytes) throw new ValueRefused(`flattens to more than ${maxBytes} bytes of structured metadata (limits.max_structured_metadata_bytes)`);
    }
  } else {
    pairs.push([name, valueText(value, context, depth + 1)]);
  }
}
