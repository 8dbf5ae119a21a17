import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { isLogstackError, type LogstackError } from '../../../src/errors.js';
import type { Limits } from '../../../src/pipeline/limits.js';
import type { EntryProblem } from '../../../src/pipeline/types.js';
import { MAX_LISTED_PROBLEMS, validateIngestBody } from '../../../src/sources/native/validate.js';
import { testConfig } from '../../support/config.js';

const SAMPLES = new URL('../../fixtures/samples/', import.meta.url);
const LIMITS: Limits = testConfig().limits;
/** Five minutes after the samples' first timestamp. */
const NOW_MS = Date.parse('2025-09-24T12:05:00Z');

function entry(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { timestamp: '2025-09-24T12:00:00.000Z', level: 'INFO', message: 'hello', service: 'api', env: 'prod', ...fields };
}

function rejection(body: unknown, limits: Limits = LIMITS, nowMs = NOW_MS): LogstackError {
  try {
    validateIngestBody(body, limits, nowMs);
  } catch (err) {
    if (isLogstackError(err)) return err;
    throw err;
  }
  throw new Error('the body was accepted');
}

function problemsOf(body: unknown, limits: Limits = LIMITS, nowMs = NOW_MS): EntryProblem[] {
  const err = rejection(body, limits, nowMs);
  if (!isLogstackError(err, 'VALIDATION_FAILED')) throw err;
  return err.details as EntryProblem[];
}

function onlyProblem(t: Test, body: unknown, pointer: string, reason: RegExp, limits: Limits = LIMITS, nowMs = NOW_MS): void {
  const problems = problemsOf(body, limits, nowMs);
  t.equal(problems.length, 1, `one problem: ${JSON.stringify(problems)}`);
  t.equal(problems[0]?.pointer, pointer);
  t.match(problems[0]?.reason, reason);
}

const accepts = (body: unknown, limits: Limits = LIMITS, nowMs = NOW_MS) => validateIngestBody(body, limits, nowMs);

t.test('accepts a valid batch and returns its entries with parsed timestamps', async (t) => {
  const metadata = { user: { id: 7, tags: ['a', 'b'] }, ok: true, nothing: null };
  const body = { entries: [entry({ metadata }), entry({ timestamp: '2025-09-24T14:00:00.123456789+02:00', level: 'FATAL' })] };
  const out = accepts(body);
  t.equal(out.length, 2);
  t.same(out[0], { entry: body.entries[0], seconds: 1758715200, nanos: 0 });
  t.same(out[1], { entry: body.entries[1], seconds: 1758715200, nanos: 123456789 });
  for (const level of ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']) t.equal(accepts({ entries: [entry({ level })] }).length, 1, level);
});

t.test('accepts the shared good samples', async (t) => {
  for (const name of ['ingest-small.json', 'ingest-100.json']) {
    const body = JSON.parse(readFileSync(new URL(name, SAMPLES), 'utf8')) as { entries: unknown[] };
    t.equal(accepts(body).length, body.entries.length, name);
  }
});

t.test('gives each shared bad sample its 400 problem', async (t) => {
  const expected: Record<string, [pointer: string, reason: RegExp]> = {
    'bad-level.json': ['/entries/0/level', /one of TRACE DEBUG INFO WARN ERROR FATAL/],
    'bad-service-label.json': ['/entries/0/service', /1 to 128 characters/],
    'empty-entries.json': ['/entries', /at least one entry/],
    'entries-not-array.json': ['/entries', /must be an array/],
    'extra-field.json': ['/entries/0/oops', /not a field of an entry/],
    'missing-timestamp.json': ['/entries/0/timestamp', /is required/],
    'no-timezone.json': ['/entries/0/timestamp', /no time zone/],
    'proto-pollution.json': ['/entries/0/metadata/__proto__', /forbidden key/],
  };
  for (const [name, [pointer, reason]] of Object.entries(expected)) {
    const body: unknown = JSON.parse(readFileSync(new URL(`bad/${name}`, SAMPLES), 'utf8'));
    const err = rejection(body);
    t.equal(err.status, 400, name);
    t.equal(err.apiError, 'validation_failed', name);
    const problems = err.details as EntryProblem[];
    t.equal(problems.length, 1, `${name}: ${JSON.stringify(problems)}`);
    t.equal(problems[0]?.pointer, pointer, name);
    t.match(problems[0]?.reason, reason, name);
  }
  t.throws(() => JSON.parse(readFileSync(new URL('bad/not-json.json', SAMPLES), 'utf8')), SyntaxError, 'not-json.json is for the HTTP layer to refuse');
  t.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'admin'), false, 'nothing polluted');
});

t.test('refuses a body that is not a batch, as problems of the whole body (index -1)', async (t) => {
  for (const body of [null, 'entries', 42, [entry()], true]) {
    const problems = problemsOf(body);
    t.same(problems.map((p) => [p.index, p.pointer]), [[-1, '/entries']], JSON.stringify(body));
  }
  onlyProblem(t, {}, '/entries', /is required/);
  onlyProblem(t, { entries: null }, '/entries', /must be an array/);
  onlyProblem(t, { entries: [] }, '/entries', /at least one entry/);
  const problems = problemsOf({ entries: [entry()], extra: 1, 'a/b~c': 2 });
  t.same(problems.map((p) => [p.index, p.pointer]), [[-1, '/extra'], [-1, '/a~1b~0c']]);
  t.match(rejection({ entries: [entry()], extra: 1 }).message, /^0 of 1 entries are invalid/);
});

t.test('answers 413 for more than limits.max_entries entries, before looking at them', async (t) => {
  const limits = { ...LIMITS, max_entries: 2 };
  t.equal(accepts({ entries: [entry(), entry()] }, limits).length, 2);
  const err = rejection({ entries: [entry(), { level: 'LOUD' }, 'junk'] }, limits);
  t.ok(isLogstackError(err, 'HTTP_TOO_MANY_ENTRIES'));
  t.equal(err.status, 413);
  t.match(err.message, /3 entries; at most 2/);
});

t.test('lists every invalid entry of the batch, all or nothing', async (t) => {
  const body = {
    entries: [
      entry(),
      entry({ level: 'info' }),
      entry(),
      entry({ message: '', env: 'has space' }),
      'not an entry',
      entry({ timestamp: undefined, extra: 1 }),
    ],
  };
  const err = rejection(body);
  t.match(err.message, /^4 of 6 entries are invalid; nothing of the batch was written/);
  const problems = err.details as EntryProblem[];
  t.same(
    problems.map((p) => [p.index, p.pointer]).sort(),
    [
      [1, '/entries/1/level'],
      [3, '/entries/3/env'],
      [3, '/entries/3/message'],
      [4, '/entries/4'],
      [5, '/entries/5/extra'],
      [5, '/entries/5/timestamp'],
    ].sort(),
  );
  t.same(problems.map((p) => p.index), [...problems.map((p) => p.index)].sort((a, b) => a - b), 'sorted by entry');
  t.match(problems.find((p) => p.index === 4)?.reason, /must be an object/);
});

t.test('checks the type of each field', async (t) => {
  onlyProblem(t, { entries: [entry({ timestamp: 1758715200 })] }, '/entries/0/timestamp', /must be a string/);
  onlyProblem(t, { entries: [entry({ message: 42 })] }, '/entries/0/message', /must be a string/);
  onlyProblem(t, { entries: [entry({ level: 3 })] }, '/entries/0/level', /must be one of/);
  onlyProblem(t, { entries: [entry({ service: null })] }, '/entries/0/service', /must be a string/);
  onlyProblem(t, { entries: [entry({ metadata: [1] })] }, '/entries/0/metadata', /must be an object/);
  onlyProblem(t, { entries: [entry({ metadata: 'x' })] }, '/entries/0/metadata', /must be an object/);
  onlyProblem(t, { entries: [entry({ metadata: null })] }, '/entries/0/metadata', /must be an object/);
  for (const field of ['timestamp', 'level', 'message', 'service', 'env']) {
    onlyProblem(t, { entries: [entry({ [field]: undefined })] }, `/entries/0/${field}`, /is required/);
  }
});

t.test('limits message size in UTF-8 bytes, not characters', async (t) => {
  const limits = { ...LIMITS, max_message_bytes: 12 };
  t.equal(accepts({ entries: [entry({ message: 'é'.repeat(6) })] }, limits).length, 1, '6 characters, 12 bytes');
  onlyProblem(t, { entries: [entry({ message: 'é'.repeat(7) })] }, '/entries/0/message', /longer than 12 UTF-8 bytes/, limits);
  t.equal(accepts({ entries: [entry({ message: '😀😀😀' })] }, limits).length, 1, '3 emoji, 12 bytes');
  onlyProblem(t, { entries: [entry({ message: '😀😀😀a' })] }, '/entries/0/message', /longer than 12/, limits);
  t.equal(accepts({ entries: [entry({ message: 'x'.repeat(12) })] }, limits).length, 1);
  onlyProblem(t, { entries: [entry({ message: 'x'.repeat(13) })] }, '/entries/0/message', /longer than 12/, limits);
  onlyProblem(t, { entries: [entry({ message: '' })] }, '/entries/0/message', /must not be empty/);
});

t.test('keeps service and env to 1–128 label-safe characters', async (t) => {
  const ok = 'A-z_0.9:' + 'x'.repeat(120);
  t.equal(accepts({ entries: [entry({ service: ok, env: ok })] }).length, 1);
  for (const bad of ['', ok + 'y', 'a b', 'a/b', 'é', 'a"b', 'a\nb']) {
    onlyProblem(t, { entries: [entry({ env: bad })] }, '/entries/0/env', /1 to 128 characters/);
  }
});

t.test('refuses timestamps outside the window Loki accepts', async (t) => {
  const limits = { ...LIMITS, max_past_seconds: 3600, max_future_seconds: 60 };
  const now = Date.parse('2025-09-24T12:00:00Z');
  const at = (timestamp: string) => ({ entries: [entry({ timestamp })] });
  t.equal(accepts(at('2025-09-24T11:00:00Z'), limits, now).length, 1, 'exactly max_past_seconds old');
  onlyProblem(t, at('2025-09-24T10:59:59.999Z'), '/entries/0/timestamp', /more than 3600 s in the past/, limits, now);
  t.equal(accepts(at('2025-09-24T12:01:00Z'), limits, now).length, 1, 'exactly max_future_seconds ahead');
  onlyProblem(t, at('2025-09-24T12:01:00.001Z'), '/entries/0/timestamp', /more than 60 s in the future/, limits, now);
  onlyProblem(t, at('1969-12-31T23:59:59Z'), '/entries/0/timestamp', /before 1970/, { ...limits, max_past_seconds: 2 ** 40 }, now);
  onlyProblem(t, at('2025-02-30T12:00:00Z'), '/entries/0/timestamp', /day/, limits, now);
});

t.test('bounds metadata depth and leaf count', async (t) => {
  const limits = { ...LIMITS, max_metadata_depth: 3, max_metadata_keys: 4 };
  t.equal(accepts({ entries: [entry({ metadata: { a: { b: { c: 1 } } } })] }, limits).length, 1, 'depth 3');
  onlyProblem(t, { entries: [entry({ metadata: { a: { b: { c: { d: 1 } } } } })] }, '/entries/0/metadata/a/b/c', /deeper than 3 levels/, limits);
  onlyProblem(t, { entries: [entry({ metadata: { a: [[[1]]] } })] }, '/entries/0/metadata/a/0/0', /deeper than 3/, limits);
  onlyProblem(t, { entries: [entry({ metadata: { a: { b: { c: {} } } } })] }, '/entries/0/metadata/a/b/c', /deeper/, limits);

  t.equal(accepts({ entries: [entry({ metadata: { a: 1, b: [2, 3], c: { d: null } } })] }, limits).length, 1, '4 leaves');
  onlyProblem(t, { entries: [entry({ metadata: { a: 1, b: [2, 3], c: { d: null, e: 'x' } } })] }, '/entries/0/metadata', /5 leaf values; at most 4/, limits);
  onlyProblem(t, { entries: [entry({ metadata: { a: 1, b: [], c: {}, d: [1, 2] } })] }, '/entries/0/metadata', /5 leaf values/, limits);
  t.equal(accepts({ entries: [entry({ metadata: {} })] }, limits).length, 1, 'empty metadata');
});

t.test('bounds the UTF-8 bytes of every metadata key, at any depth, without repeating the key', async (t) => {
  const limits = { ...LIMITS, max_metadata_key_bytes: 8 };
  t.equal(accepts({ entries: [entry({ metadata: { abcdefgh: 1, n: { abcdefgh: [1, 2] }, 'é€abc': 1 } })] }, limits).length, 1, '8 bytes, top, nested and in 5 characters');
  onlyProblem(t, { entries: [entry({ metadata: { abcdefghi: 1 } })] }, '/entries/0/metadata', /has a key longer than 8 UTF-8 bytes \(limits.max_metadata_key_bytes\)/, limits);
  onlyProblem(t, { entries: [entry({ metadata: { n: [{ abcdefghi: [1, 2] }] } })] }, '/entries/0/metadata/n/0', /longer than 8/, limits);
  onlyProblem(t, { entries: [entry({ metadata: { 'é€abcd': 1 } })] }, '/entries/0/metadata', /longer than 8/, limits, NOW_MS);

  const long = 'K'.repeat(2_000_000);
  const problems = problemsOf({ entries: [entry({ metadata: { [long]: new Array(128).fill(0) } })] });
  t.same(
    problems.map((p) => [p.pointer, p.reason]),
    [['/entries/0/metadata', 'has a key longer than 1024 UTF-8 bytes (limits.max_metadata_key_bytes)']],
    'a 2 MB key under the default: one short problem',
  );
});

t.test('refuses keys that could pollute prototypes, anywhere in metadata', async (t) => {
  const cases: Array<[string, string]> = [
    ['{"__proto__": {"admin": true}}', '/entries/0/metadata/__proto__'],
    ['{"a": {"b": [{"constructor": {"prototype": {"admin": true}}}]}}', '/entries/0/metadata/a/b/0/constructor'],
    ['{"prototype": 1}', '/entries/0/metadata/prototype'],
    ['{"x/y": {"~": {"__proto__": 1}}}', '/entries/0/metadata/x~1y/~0/__proto__'],
  ];
  for (const [metadata, pointer] of cases) {
    const body: unknown = JSON.parse(`{"entries": [${JSON.stringify(entry()).slice(0, -1)}, "metadata": ${metadata}}]}`);
    onlyProblem(t, body, pointer, /forbidden key/);
  }
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched');
  t.equal(accepts({ entries: [entry({ metadata: { Constructor: 1, proto: 2, __proto: 3 } })] }).length, 1, 'look-alikes are fine');
});

t.test('never echoes a refused value in a reason', async (t) => {
  const secret = 'S3cr3t-Value-4111111111111111';
  const body = {
    entries: [
      entry({ level: secret, service: `${secret} x`, env: `${secret}/`, timestamp: secret }),
      entry({ message: secret.repeat(20), metadata: { [`k`]: { deep: { deeper: secret } } } }),
      entry({ [secret]: secret }),
    ],
  };
  const limits = { ...LIMITS, max_message_bytes: 64, max_metadata_depth: 2 };
  const problems = problemsOf(body, limits);
  t.ok(problems.length >= 6, `${problems.length} problems`);
  for (const p of problems) t.notMatch(p.reason, 'S3cr3t', p.pointer);
});

t.test('does not change the body it validates', async (t) => {
  const body = { entries: [entry({ metadata: { a: [1, { b: 'c' }] } })] };
  const before = JSON.stringify(body);
  accepts(body);
  t.equal(JSON.stringify(body), before);
});

t.test('lists the first 100 problems and counts the rest; every invalid entry is counted', async (t) => {
  const unknown = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, 0]));
  t.equal(MAX_LISTED_PROBLEMS, 100);
  const atBound = rejection({ entries: [entry(unknown(100))] });
  t.equal((atBound.details as EntryProblem[]).length, 100, '100 problems: all listed');
  t.equal(atBound.message, '1 of 1 entries are invalid; nothing of the batch was written');
  const over = rejection({ entries: [entry(unknown(101))] });
  t.equal((over.details as EntryProblem[]).length, 100, '101: the first 100 listed');
  t.equal(over.message, '1 of 1 entries are invalid; nothing of the batch was written; 1 more problems are not listed');
  t.same((over.details as EntryProblem[]).slice(0, 2), [
    { index: 0, pointer: '/entries/0/f0', reason: 'is not a field of an entry (timestamp, level, message, service, env, metadata)' },
    { index: 0, pointer: '/entries/0/f1', reason: 'is not a field of an entry (timestamp, level, message, service, env, metadata)' },
  ]);
  const flood = rejection({ entries: [entry(unknown(140_000)), entry({ level: 'LOUD' })] });
  t.equal((flood.details as EntryProblem[]).length, 100);
  t.equal(flood.message, '2 of 2 entries are invalid; nothing of the batch was written; 139901 more problems are not listed', 'an entry whose problem is not listed is counted');
  const metadata = rejection({ entries: [entry({ metadata: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, { ['__proto__']: 1, constructor: 1 }])) })] }, { ...LIMITS, max_metadata_keys: 1000 });
  t.equal((metadata.details as EntryProblem[]).length, 100, 'forbidden metadata keys are capped too');
  t.match(metadata.message, /; 200 more problems are not listed$/);
});
