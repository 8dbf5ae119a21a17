/**
 * From a validated entry to the masked Loki entry LogStack stores and ships.
 *
 * Labels are the entry fields named by `loki.labels` plus `loki.static_labels`; a static label
 * wins over an entry field of the same name (the operator's setting is authoritative), and that
 * field is then kept like any field that is not a label: nothing the client sent is dropped.
 *
 * `structured_metadata`: the line is `message`; the fields that are not labels, then `metadata`
 * flattened, become structured metadata pairs. A nested key is its path joined with `_`
 * (array elements by index: `tags_0`), with every character outside `[a-zA-Z0-9_]` turned into
 * `_` and a leading digit prefixed with `_`, as Loki wants label names. Strings are kept as
 * they are, other scalars as their JSON text, empty objects and arrays as `{}` and `[]`. When two
 * paths give the same name, the later one (in document order) gets `_2`, `_3`, … .
 *
 * `json_line`: the line is the JSON text of `{message, level?, service?, env?, metadata?}` with
 * the fields that are not labels; there is no structured metadata.
 *
 * Masking is the policy's, exactly as `maskEntry` does it (src/sources/native/mask-entry.ts); in
 * `structured_metadata` mode it happens while the metadata is flattened, so that no masked copy
 * of every metadata object is made only to be walked once and dropped.
 */
import type { Config } from '../../config/schema.js';
import { formatLabels, type LokiEntry } from '../../loki/entry.js';
import { maskByRule, maskScalar, memberRule, namedBy } from '../../masking/mask-value.js';
import type { KeyRule, MaskingPolicy } from '../../masking/policy.js';
import type { IngestEntry } from '../../pipeline/types.js';
import { maskEntry, maskFields } from './mask-entry.js';

export type LokiConfig = Config['loki'];
type EntryField = 'level' | 'service' | 'env';

export interface LokiEntryBuilder {
  /** `entry` validated, masked by `policy` as it is built; `seconds` and `nanos` its parsed timestamp. */
  build(entry: IngestEntry, policy: MaskingPolicy, seconds: number, nanos: number): LokiEntry;
  /** The batch of the entries built since the last call was accepted: its caches keep what they learnt from it. */
  commit(): void;
  /** The batch was refused: its caches forget what they learnt from it, so refused input never stays in memory. */
  abandon(): void;
}

/** Order of the non-label fields in structured metadata and in a JSON line. */
const ENTRY_FIELDS: readonly EntryField[] = ['level', 'service', 'env'];
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NOT_NAME_CHAR = /[^a-zA-Z0-9_]/g;
/**
 * Cache bounds in bytes (UTF-16 code units × 2, and what a map entry and its objects cost),
 * past which a cache starts over. Real traffic has few label sets and metadata shapes; the
 * bounds keep a client whose `service`, `env` or metadata keys are all different, or very
 * long, from growing our memory. In entries they would not: one metadata key may be megabytes.
 */
const MAX_CACHED_LABEL_BYTES = 1024 * 1024;
const MAX_CACHED_NAME_BYTES = 2 * 1024 * 1024;
/** What a cached name or label set costs beyond its characters: map entries and small objects. */
const ENTRY_OVERHEAD_BYTES = 96;

/** The cost of caching these strings. */
function cachedBytes(...texts: string[]): number {
  let units = 0;
  for (const text of texts) units += text.length;
  return ENTRY_OVERHEAD_BYTES + 2 * units;
}

/**
 * What a cache added since its last commit, to take it out again when the batch that taught it
 * is refused: a cache fed by client input never keeps what was refused.
 */
class Additions {
  #maps: Array<[Map<unknown, unknown>, unknown]> = [];
  #arrays: Array<[unknown[], number]> = [];
  bytes = 0;

  map<K>(map: Map<K, unknown>, key: K, bytes: number): void {
    this.#maps.push([map as Map<unknown, unknown>, key]);
    this.bytes += bytes;
  }

  array(array: unknown[], index: number, bytes: number): void {
    this.#arrays.push([array, index]);
    this.bytes += bytes;
  }

  /** Keeps the additions; returns their bytes. */
  commit(): number {
    const bytes = this.bytes;
    this.#maps = [];
    this.#arrays = [];
    this.bytes = 0;
    return bytes;
  }

  /** Takes the additions out again, newest first. */
  undo(): void {
    for (let i = this.#maps.length - 1; i >= 0; i--) this.#maps[i]![0].delete(this.#maps[i]![1]);
    // Array slots are added in index order: cutting at the first one added removes them all.
    for (let i = this.#arrays.length - 1; i >= 0; i--) {
      const [array, index] = this.#arrays[i]!;
      if (array.length > index) array.length = index;
    }
    this.commit();
  }
}

type Pairs = Array<readonly [string, string]>;

/** A label name from a key; `nested` names follow a `_`, where a leading digit is fine. */
function nameOf(key: string, nested: boolean): string {
  if (LABEL_NAME.test(key)) return key;
  const name = key.replace(NOT_NAME_CHAR, '_');
  if (nested) return name;
  return name === '' || (name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57) ? `_${name}` : name;
}

/** A structured metadata name and the number of the last entry that used it. */
interface NameSlot {
  readonly name: string;
  entry: number;
}

/** A metadata path: its name, and the paths below it by key (object) or index (array). */
interface NameNode {
  readonly slot: NameSlot;
  keys?: Map<string, NameNode>;
  items?: NameNode[];
}

/**
 * The structured metadata names of the metadata paths met so far. Entries of one service share
 * their shape, so each name is sanitised and joined once, not once per entry, and a name taken
 * twice within an entry is noticed by its slot's entry number, without a set per entry.
 * Bounded in bytes, against clients whose keys are all different or very long, and never
 * keeping the names of a refused batch.
 */
class NameTree {
  #root!: NameNode;
  #slots!: Map<string, NameSlot>;
  /** Bytes of the names kept (committed). */
  #bytes = 0;
  #additions = new Additions();
  #entry = 0;

  constructor() {
    this.#clear();
  }

  /**
   * Starts the names of a new entry: every name is free again. The bound is enforced here,
   * between entries, so that all the names of one entry live in the same slots.
   */
  nextEntry(): void {
    if (this.#bytes + this.#additions.bytes > MAX_CACHED_NAME_BYTES) this.#clear();
    this.#entry++;
  }

  commit(): void {
    this.#bytes += this.#additions.commit();
  }

  abandon(): void {
    this.#additions.undo();
  }

  top(key: string): NameNode {
    return this.#child(this.#root, key, false);
  }

  key(parent: NameNode, key: string): NameNode {
    return this.#child(parent, key, true);
  }

  item(parent: NameNode, index: number): NameNode {
    const items = (parent.items ??= []);
    let node = items[index];
    if (node === undefined) {
      node = { slot: this.#slot(`${parent.slot.name}_${index}`) };
      items[index] = node;
      this.#additions.array(items, index, ENTRY_OVERHEAD_BYTES);
    }
    return node;
  }

  /** `slot`'s name if this entry has not used it yet, else the first free of `name_2`, `name_3`, … */
  claim(slot: NameSlot): string {
    let free = slot;
    for (let n = 2; free.entry === this.#entry; n++) free = this.#slot(`${slot.name}_${n}`);
    free.entry = this.#entry;
    return free.name;
  }

  claimName(name: string): string {
    return this.claim(this.#slot(name));
  }

  #child(parent: NameNode, key: string, nested: boolean): NameNode {
    const keys = (parent.keys ??= new Map());
    let node = keys.get(key);
    if (node === undefined) {
      node = { slot: this.#slot(nested ? `${parent.slot.name}_${nameOf(key, true)}` : nameOf(key, false)) };
      keys.set(key, node);
      this.#additions.map(keys, key, cachedBytes(key));
    }
    return node;
  }

  #slot(name: string): NameSlot {
    let slot = this.#slots.get(name);
    if (slot === undefined) {
      slot = { name, entry: -1 };
      this.#slots.set(name, slot);
      this.#additions.map(this.#slots, name, cachedBytes(name));
    }
    return slot;
  }

  #clear(): void {
    this.#root = { slot: { name: '', entry: -1 } };
    this.#slots = new Map();
    this.#bytes = 0;
    // What was added since the last commit went with the maps it was added to.
    this.#additions = new Additions();
  }
}

/** The pairs of `value`, its leaves masked by the value patterns. */
function flatten(names: NameTree, pairs: Pairs, node: NameNode, value: unknown, policy: MaskingPolicy): void {
  if (typeof value !== 'object' || value === null) {
    const masked = maskScalar(value, policy);
    pairs.push([names.claim(node.slot), typeof masked === 'string' ? masked : masked === null ? 'null' : String(masked)]);
  } else if (Array.isArray(value)) {
    if (value.length === 0) pairs.push([names.claim(node.slot), '[]']);
    for (let i = 0; i < value.length; i++) flatten(names, pairs, names.item(node, i), value[i], policy);
  } else if (!flattenMembers(names, pairs, node, value as Record<string, unknown>, policy)) {
    pairs.push([names.claim(node.slot), '{}']);
  }
}

/**
 * The pairs of the members of `object`, below `parent` (null: the top of metadata), each masked
 * by its rule (mask-value.ts: its name's, or the one a `name` member gave a `value` member);
 * false when it has none.
 */
function flattenMembers(names: NameTree, pairs: Pairs, parent: NameNode | null, object: Readonly<Record<string, unknown>>, policy: MaskingPolicy): boolean {
  let members = false;
  let named: KeyRule | undefined;
  // for-in with an own check, not Object.keys: no array of keys per object of every entry.
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    members = true;
    const member = object[key];
    named = namedBy(key, member, policy, named);
    flattenMember(names, pairs, parent === null ? names.top(key) : names.key(parent, key), memberRule(key, named, policy), member, policy);
  }
  return members;
}

/**
 * The pairs of a metadata member's value: one masked pair when the policy gives it a rule that
 * masks it; as any other value when it has none, or its rule keeps it (`pass: 120`).
 */
function flattenMember(names: NameTree, pairs: Pairs, node: NameNode, rule: KeyRule | undefined, value: unknown, policy: MaskingPolicy): void {
  const masked = rule === undefined ? undefined : maskByRule(value, rule, policy);
  if (typeof masked === 'string') pairs.push([names.claim(node.slot), masked]);
  else flatten(names, pairs, node, value, policy);
}

type LabelNode = Map<string, LabelNode | string>;

/**
 * Label strings by the values of the label fields, one map level per field. Bounded in bytes;
 * a refused batch's label sets are not kept.
 */
class LabelCache {
  readonly #fields: readonly EntryField[];
  readonly #staticLabels: Readonly<Record<string, string>>;
  #root: LabelNode = new Map();
  #bytes = 0;
  #additions = new Additions();

  constructor(fields: readonly EntryField[], staticLabels: Readonly<Record<string, string>>) {
    this.#fields = fields;
    this.#staticLabels = staticLabels;
  }

  labelsOf(entry: IngestEntry): string {
    const fields = this.#fields;
    let node = this.#root;
    const last = fields.length - 1;
    for (let i = 0; i < last; i++) {
      const value = entry[fields[i]!];
      let next = node.get(value) as LabelNode | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(value, next);
        this.#additions.map(node, value, cachedBytes(value));
      }
      node = next;
    }
    const key = last < 0 ? '' : entry[fields[last]!];
    const cached = node.get(key) as string | undefined;
    if (cached !== undefined) return cached;

    const labels: Record<string, string> = { ...this.#staticLabels };
    for (const field of fields) labels[field] = entry[field];
    const text = formatLabels(labels);
    if (this.#bytes + this.#additions.bytes > MAX_CACHED_LABEL_BYTES) {
      this.#root = new Map();
      this.#bytes = 0;
      this.#additions = new Additions();
    } else {
      node.set(key, text);
      this.#additions.map(node, key, cachedBytes(key, text));
    }
    return text;
  }

  commit(): void {
    this.#bytes += this.#additions.commit();
  }

  abandon(): void {
    this.#additions.undo();
  }
}

export function createLokiEntryBuilder(loki: LokiConfig): LokiEntryBuilder {
  const staticLabels = { ...loki.static_labels };
  const labelFields = loki.labels.filter((field) => !Object.hasOwn(staticLabels, field));
  const otherFields = ENTRY_FIELDS.filter((field) => !labelFields.includes(field));
  const labels = new LabelCache(labelFields, staticLabels);

  if (loki.metadata_mode === 'json_line') {
    return {
      build(entry, policy, seconds, nanos) {
        const masked = maskEntry(entry, policy);
        const doc: Record<string, unknown> = { message: masked.message };
        for (const field of otherFields) doc[field] = masked[field];
        if (masked.metadata !== undefined) doc.metadata = masked.metadata;
        return { seconds, nanos, labels: labels.labelsOf(masked), line: JSON.stringify(doc), structuredMetadata: [] };
      },
      commit: () => labels.commit(),
      abandon: () => labels.abandon(),
    };
  }
  const names = new NameTree();
  return {
    build(entry, policy, seconds, nanos) {
      const fields = maskFields(entry, policy);
      const metadata = entry.metadata;
      const pairs: Pairs = [];
      names.nextEntry();
      for (const field of otherFields) pairs.push([names.claimName(field), fields[field]]);
      if (metadata !== undefined) flattenMembers(names, pairs, null, metadata, policy);
      return { seconds, nanos, labels: labels.labelsOf(fields), line: fields.message, structuredMetadata: pairs };
    },
    commit() {
      labels.commit();
      names.commit();
    },
    abandon() {
      labels.abandon();
      names.abandon();
    },
  };
}
