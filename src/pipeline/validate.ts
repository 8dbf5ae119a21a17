/**
 * Validation of an ingest body, strict and all-or-nothing: every problem of every entry is
 * collected before anything is rejected, so a client fixes its batch in one round trip.
 *
 * ajv checks the shape of each entry (compiled once, at first use); the rules it cannot express
 * are checked here: message size in UTF-8 bytes, the timestamp (strict RFC 3339 and the window
 * Loki accepts), and the depth, leaf count and keys (forbidden names, length) of `metadata`.
 *
 * Problems of the body as a whole (not an object, `entries` not a non-empty array, an unknown
 * top-level field) carry index -1 and do not count as invalid entries.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import { parseTimestamp } from './timestamp.js';
import type { EntryProblem, IngestEntry } from './types.js';

export type Limits = Config['limits'];

/** An entry that passed validation, with its timestamp already parsed. */
export interface ValidatedEntry {
  readonly entry: IngestEntry;
  readonly seconds: number;
  readonly nanos: number;
}

export const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
const FIELDS = ['timestamp', 'level', 'message', 'service', 'env', 'metadata'];
const LABEL_SAFE = '^[A-Za-z0-9_.:-]{1,128}$';

/**
 * Keys that reach `Object.prototype` when a consumer assigns through them onto a plain object.
 * LogStack itself never does (null-prototype objects), but the entries travel on to Loki and to
 * whatever reads Loki, so such a key is refused rather than passed along.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

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

function entriesValidator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, strict: true, messages: false }).compile(ENTRIES_SCHEMA);
  return compiled;
}

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
    case 'additionalProperties':
      return problem(index, `${path}/${pointerToken(String(params.additionalProperty))}`, `is not a field of an entry (${FIELDS.join(', ')})`);
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

/** Whether `text` is longer than `maxBytes` in UTF-8, without encoding it unless it must. */
export function utf8ExceedsBytes(text: string, maxBytes: number): boolean {
  // A UTF-16 unit takes 1 to 3 UTF-8 bytes, so the exact count is needed only in between.
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(text, 'utf8') > maxBytes;
}

interface MetadataWalk {
  readonly index: number;
  readonly limits: Limits;
  /** Keys and indexes from `metadata` down to the current value, unescaped. */
  readonly path: string[];
  leaves: number;
  readonly problems: EntryProblem[];
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
    return;
  }
  if (depth > walk.limits.max_metadata_depth) {
    walk.problems.push(problem(walk.index, metadataPointer(walk), `nests deeper than ${walk.limits.max_metadata_depth} levels (limits.max_metadata_depth)`));
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
      walk.problems.push(problem(walk.index, metadataPointer(walk), `has a key longer than ${max} UTF-8 bytes (limits.max_metadata_key_bytes)`));
      continue;
    }
    walk.path.push(key);
    if (FORBIDDEN_KEYS.has(key)) {
      walk.problems.push(problem(walk.index, metadataPointer(walk), 'is a forbidden key (__proto__, constructor and prototype are refused)'));
    } else {
      walkMetadata(walk, (value as Record<string, unknown>)[key], depth + 1);
    }
    walk.path.pop();
  }
  if (empty && depth > 1) walk.leaves++;
}

function checkMetadata(index: number, metadata: object, limits: Limits, problems: EntryProblem[]): void {
  const walk: MetadataWalk = { index, limits, path: [], leaves: 0, problems };
  walkMetadata(walk, metadata, 1);
  if (walk.leaves > limits.max_metadata_keys) {
    problems.push(problem(index, `/entries/${index}/metadata`, `has ${walk.leaves} leaf values; at most ${limits.max_metadata_keys} are accepted (limits.max_metadata_keys)`));
  }
}

/**
 * Validates `{"entries": [...]}` and returns the entries with parsed timestamps, or throws
 * HTTP_TOO_MANY_ENTRIES (checked first: no work is spent on an oversized batch) or
 * VALIDATION_FAILED with every problem in `details` (EntryProblem[], by entry index).
 */
export function validateIngestBody(body: unknown, limits: Limits, nowMs: number): ValidatedEntry[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw logstackError('VALIDATION_FAILED', [0, 0], { details: [problem(-1, '/entries', 'the body must be a JSON object {"entries": [...]}')] });
  }
  const entries = (body as { entries?: unknown }).entries;
  const problems: EntryProblem[] = [];
  for (const key of Object.keys(body)) {
    if (key !== 'entries') problems.push(problem(-1, `/${pointerToken(key)}`, 'is not a field of the body (only "entries")'));
  }
  if (!Array.isArray(entries)) {
    problems.push(problem(-1, '/entries', entries === undefined ? 'is required' : 'must be an array of entries'));
    throw logstackError('VALIDATION_FAILED', [0, 0], { details: problems });
  }
  if (entries.length > limits.max_entries) throw logstackError('HTTP_TOO_MANY_ENTRIES', [entries.length, limits.max_entries]);
  if (entries.length === 0) problems.push(problem(-1, '/entries', 'must hold at least one entry'));

  const validate = entriesValidator();
  if (!validate(entries)) {
    for (const error of validate.errors ?? []) problems.push(fromAjv(error));
  }

  const pastMs = limits.max_past_seconds * 1000;
  const futureMs = limits.max_future_seconds * 1000;
  const out: ValidatedEntry[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry: unknown = entries[i];
    if (typeof entry !== 'object' || entry === null) continue;
    const { timestamp, message, metadata } = entry as Record<string, unknown>;
    if (typeof message === 'string' && utf8ExceedsBytes(message, limits.max_message_bytes)) {
      problems.push(problem(i, `/entries/${i}/message`, `is longer than ${limits.max_message_bytes} UTF-8 bytes (limits.max_message_bytes)`));
    }
    if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) checkMetadata(i, metadata, limits, problems);
    if (typeof timestamp !== 'string') continue;
    const ts = parseTimestamp(timestamp);
    if (!ts.ok) {
      problems.push(problem(i, `/entries/${i}/timestamp`, ts.reason));
      continue;
    }
    const ms = ts.seconds * 1000 + Math.floor(ts.nanos / 1e6);
    if (ts.seconds < 0) {
      problems.push(problem(i, `/entries/${i}/timestamp`, 'is before 1970-01-01T00:00:00Z'));
    } else if (nowMs - ms > pastMs) {
      problems.push(problem(i, `/entries/${i}/timestamp`, `is more than ${limits.max_past_seconds} s in the past (limits.max_past_seconds)`));
    } else if (ms - nowMs > futureMs) {
      problems.push(problem(i, `/entries/${i}/timestamp`, `is more than ${limits.max_future_seconds} s in the future (limits.max_future_seconds)`));
    } else {
      out[i] = { entry: entry as IngestEntry, seconds: ts.seconds, nanos: ts.nanos };
    }
  }

  if (problems.length > 0) throw validationFailed(problems, entries.length);
  return out;
}

/** The VALIDATION_FAILED error for `problems`, sorted by entry index (stable within an entry). */
export function validationFailed(problems: EntryProblem[], total: number): Error {
  const sorted = problems.slice().sort((a, b) => a.index - b.index);
  const bad = new Set(sorted.filter((p) => p.index >= 0).map((p) => p.index)).size;
  return logstackError('VALIDATION_FAILED', [bad, total], { details: sorted });
}
