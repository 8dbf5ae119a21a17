/**
 * Validation of an ingest body, strict and all-or-nothing: every problem of every entry is
 * found before anything is rejected, so a client fixes its batch in one round trip; the first
 * 100 are listed and the rest counted (ProblemList).
 *
 * ajv checks the shape of each entry (compiled once, at first use); the rules it cannot express
 * are checked here: message size in UTF-8 bytes, the timestamp (strict RFC 3339 and the window
 * Loki accepts), and the depth, leaf count and keys (forbidden names, length) of `metadata`.
 *
 * Problems of the body as a whole (not an object, `entries` not a non-empty array, an unknown
 * top-level field) carry index -1 and do not count as invalid entries.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { logstackError } from '../../errors.js';
import { FORBIDDEN_KEYS, overBeforeMasking, utf8ExceedsBytes, type Limits } from '../../pipeline/limits.js';
import { parseTimestamp } from '../../pipeline/timestamp.js';
import type { EntryProblem, IngestEntry } from '../../pipeline/types.js';

/** An entry that passed validation, with its timestamp already parsed. */
export interface ValidatedEntry {
  readonly entry: IngestEntry;
  readonly seconds: number;
  readonly nanos: number;
}

export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
const FIELDS = ['timestamp', 'level', 'message', 'service', 'env', 'metadata'];
const LABEL_SAFE = '^[A-Za-z0-9_.:-]{1,128}$';


/** The shape of `entries` as ajv checks it; the API description (openapi.json) shows the same. */
export const ENTRIES_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    required: ['timestamp', 'level', 'message', 'service', 'env'],
    additionalProperties: false,
    properties: {
      timestamp: { type: 'string' },
      level: { enum: LEVELS },
      message: { type: 'string', minLength: 1 },
      service: { type: 'string', pattern: LABEL_SAFE },
      env: { type: 'string', pattern: LABEL_SAFE },
      metadata: { type: 'object' },
    },
  },
} as const;

let compiled: ValidateFunction | undefined;

/**
 * ENTRIES_SCHEMA less its unknown-field rule, which validateIngestBody checks itself: ajv makes
 * an error object per unknown field, 140,000 of them for a 1 MB entry, before any is refused.
 * What ajv reports then is bounded by the fields an entry has (at most a few per entry).
 */
function entriesValidator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, strict: true, messages: false }).compile({
    ...ENTRIES_SCHEMA,
    items: { ...ENTRIES_SCHEMA.items, additionalProperties: true },
  });
  return compiled;
}

/** Problems listed in a 400's `details`: a batch of many thousands of problems stays readable. */
export const MAX_LISTED_PROBLEMS = 100;

/**
 * A request's problems: the first MAX_LISTED_PROBLEMS kept, the rest only counted, so that a
 * refused request costs no more than an accepted one. A pointer is built only to be listed.
 */
export class ProblemList {
  readonly listed: EntryProblem[] = [];
  /** Problems found, listed or not. */
  count = 0;
  readonly #invalid = new Set<number>();

  add(index: number, pointer: string | (() => string), reason: string): void {
    this.count++;
    if (index >= 0) this.#invalid.add(index);
    if (this.listed.length < MAX_LISTED_PROBLEMS) this.listed.push(problem(index, typeof pointer === 'string' ? pointer : pointer(), reason));
  }

  /** Entries with a problem (body-wide problems are of none). */
  get invalidEntries(): number {
    return this.#invalid.size;
  }
}

const ENTRY_FIELDS: ReadonlySet<string> = new Set(FIELDS);

/** RFC 6901 escaping of one reference token. */
function pointerToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

function problem(index: number, pointer: string, reason: string): EntryProblem {
  return { index, pointer, reason };
}

/** ajv's verdicts in our words; none of them repeats the value it refused. */
function fromAjv(error: ErrorObject): EntryProblem {
  const path = `/entries${error.instancePath}`;
  const index = Number(error.instancePath.split('/')[1]);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return problem(index, `${path}/${pointerToken(String(params.missingProperty))}`, 'is required');
    case 'type':
      return problem(index, path, params.type === 'object' ? 'must be an object' : `must be a ${String(params.type)}`);
    case 'enum':
      return problem(index, path, `must be one of ${LEVELS.join(' ')}`);
    case 'minLength':
      return problem(index, path, 'must not be empty');
    case 'pattern':
      return problem(index, path, 'must be 1 to 128 characters of A-Z a-z 0-9 _ . : -');
    default:
      return problem(index, path, `fails the ${error.keyword} rule`);
  }
}


interface MetadataWalk {
  readonly index: number;
  readonly limits: Limits;
  /** Keys and indexes from `metadata` down to the current value, unescaped. */
  readonly path: string[];
  leaves: number;
  /** UTF-16 units of the keys and string values walked: a lower bound of their UTF-8 bytes. */
  units: number;
  readonly problems: ProblemList;
}

function metadataPointer(walk: MetadataWalk): string {
  let pointer = `/entries/${walk.index}/metadata`;
  for (const key of walk.path) pointer += `/${pointerToken(key)}`;
  return pointer;
}

/**
 * Counts leaves (scalars and nested empty containers: each becomes one structured metadata
 * pair) and checks depth and keys. `depth` is that of `value`; `metadata` itself is depth 1.
 */
function walkMetadata(walk: MetadataWalk, value: unknown, depth: number): void {
  if (typeof value !== 'object' || value === null) {
    walk.leaves++;
    if (typeof value === 'string') walk.units += value.length;
    return;
  }
  if (depth > walk.limits.max_metadata_depth) {
    walk.problems.add(walk.index, () => metadataPointer(walk), `nests deeper than ${walk.limits.max_metadata_depth} levels (limits.max_metadata_depth)`);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) walk.leaves++;
    for (let i = 0; i < value.length; i++) {
      walk.path.push(String(i));
      walkMetadata(walk, value[i], depth + 1);
      walk.path.pop();
    }
    return;
  }
  // for-in with an own check, not Object.keys: no array of keys per object of every entry.
  let empty = true;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    empty = false;
    if (utf8ExceedsBytes(key, walk.limits.max_metadata_key_bytes)) {
      // Refused before it is joined into a name per leaf below it (one copy each). The pointer
      // is the object holding it: neither the pointer nor the reason repeats a key that long.
      const max = walk.limits.max_metadata_key_bytes;
      walk.problems.add(walk.index, () => metadataPointer(walk), `has a key longer than ${max} UTF-8 bytes (limits.max_metadata_key_bytes)`);
      continue;
    }
    walk.units += key.length;
    walk.path.push(key);
    if (FORBIDDEN_KEYS.has(key)) {
      walk.problems.add(walk.index, () => metadataPointer(walk), 'is a forbidden key (__proto__, constructor and prototype are refused)');
    } else {
      walkMetadata(walk, (value as Record<string, unknown>)[key], depth + 1);
    }
    walk.path.pop();
  }
  if (empty && depth > 1) walk.leaves++;
}

function checkMetadata(index: number, metadata: object, limits: Limits, problems: ProblemList): void {
  const walk: MetadataWalk = { index, limits, path: [], leaves: 0, units: 0, problems };
  walkMetadata(walk, metadata, 1);
  // Metadata becomes structured metadata or part of the JSON line (loki.metadata_mode): text
  // masking could not bring under the larger of the two limits fits neither, and is not masked.
  const max = Math.max(limits.max_structured_metadata_bytes, limits.max_message_bytes);
  if (overBeforeMasking(walk.units, max)) {
    problems.add(index, `/entries/${index}/metadata`, `is ${walk.units} characters of keys and values, more than masking could bring under ${max} UTF-8 bytes (limits.max_structured_metadata_bytes, limits.max_message_bytes)`);
  }
  if (walk.leaves > limits.max_metadata_keys) {
    problems.add(index, `/entries/${index}/metadata`, `has ${walk.leaves} leaf values; at most ${limits.max_metadata_keys} are accepted (limits.max_metadata_keys)`);
  }
}

/** Fields of an entry that are not an entry's; for-in, not Object.keys: no array of 140,000 names. */
function checkFields(index: number, entry: object, problems: ProblemList): void {
  for (const key in entry) {
    if (!Object.hasOwn(entry, key) || ENTRY_FIELDS.has(key)) continue;
    problems.add(index, () => `/entries/${index}/${pointerToken(key)}`, `is not a field of an entry (${FIELDS.join(', ')})`);
  }
}

/**
 * Validates `{"entries": [...]}` and returns the entries with parsed timestamps, or throws
 * HTTP_TOO_MANY_ENTRIES (checked first: no work is spent on an oversized batch) or
 * VALIDATION_FAILED with the first problems in `details` (EntryProblem[], by entry index).
 */
export function validateIngestBody(body: unknown, limits: Limits, nowMs: number): ValidatedEntry[] {
  const problems = new ProblemList();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    problems.add(-1, '/entries', 'the body must be a JSON object {"entries": [...]}');
    throw validationFailed(problems, 0);
  }
  const entries = (body as { entries?: unknown }).entries;
  for (const key in body) {
    if (Object.hasOwn(body, key) && key !== 'entries') problems.add(-1, () => `/${pointerToken(key)}`, 'is not a field of the body (only "entries")');
  }
  if (!Array.isArray(entries)) {
    problems.add(-1, '/entries', entries === undefined ? 'is required' : 'must be an array of entries');
    throw validationFailed(problems, 0);
  }
  if (entries.length > limits.max_entries) throw logstackError('HTTP_TOO_MANY_ENTRIES', [entries.length, limits.max_entries]);
  if (entries.length === 0) problems.add(-1, '/entries', 'must hold at least one entry');

  for (let i = 0; i < entries.length; i++) {
    const entry: unknown = entries[i];
    if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) checkFields(i, entry, problems);
  }
  const validate = entriesValidator();
  if (!validate(entries)) {
    for (const error of validate.errors ?? []) {
      const found = fromAjv(error);
      problems.add(found.index, found.pointer, found.reason);
    }
  }

  const pastMs = limits.max_past_seconds * 1000;
  const futureMs = limits.max_future_seconds * 1000;
  const out: ValidatedEntry[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry: unknown = entries[i];
    if (typeof entry !== 'object' || entry === null) continue;
    const { timestamp, message, metadata } = entry as Record<string, unknown>;
    if (typeof message === 'string' && utf8ExceedsBytes(message, limits.max_message_bytes)) {
      problems.add(i, `/entries/${i}/message`, `is longer than ${limits.max_message_bytes} UTF-8 bytes (limits.max_message_bytes)`);
    }
    if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) checkMetadata(i, metadata, limits, problems);
    if (typeof timestamp !== 'string') continue;
    const ts = parseTimestamp(timestamp);
    if (!ts.ok) {
      problems.add(i, `/entries/${i}/timestamp`, ts.reason);
      continue;
    }
    const ms = ts.seconds * 1000 + Math.floor(ts.nanos / 1e6);
    if (ts.seconds < 0) {
      problems.add(i, `/entries/${i}/timestamp`, 'is before 1970-01-01T00:00:00Z');
    } else if (nowMs - ms > pastMs) {
      problems.add(i, `/entries/${i}/timestamp`, `is more than ${limits.max_past_seconds} s in the past (limits.max_past_seconds)`);
    } else if (ms - nowMs > futureMs) {
      problems.add(i, `/entries/${i}/timestamp`, `is more than ${limits.max_future_seconds} s in the future (limits.max_future_seconds)`);
    } else {
      out[i] = { entry: entry as IngestEntry, seconds: ts.seconds, nanos: ts.nanos };
    }
  }

  if (problems.count > 0) throw validationFailed(problems, entries.length);
  return out;
}

/**
 * The VALIDATION_FAILED error for `problems`: those listed, sorted by entry index (stable
 * within an entry), and how many more were found.
 */
export function validationFailed(problems: ProblemList | readonly EntryProblem[], total: number): Error {
  let list: ProblemList;
  if (problems instanceof ProblemList) {
    list = problems;
  } else {
    list = new ProblemList();
    for (const p of problems) list.add(p.index, p.pointer, p.reason);
  }
  const sorted = list.listed.slice().sort((a, b) => a.index - b.index);
  const unlisted = list.count - list.listed.length;
  return logstackError('VALIDATION_FAILED', [list.invalidEntries, total, unlisted > 0 ? `; ${unlisted} more problems are not listed` : ''], { details: sorted });
}
