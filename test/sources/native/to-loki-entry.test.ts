import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { parseLabels } from '../../../src/loki/entry.js';
import { compileMaskingPolicy, type MaskingPolicy } from '../../../src/masking/policy.js';
import type { IngestEntry } from '../../../src/pipeline/types.js';
import { maskEntry } from '../../../src/sources/native/mask-entry.js';
import { createLokiEntryBuilder, type LokiConfig } from '../../../src/sources/native/to-loki-entry.js';
import { testConfig } from '../../support/config.js';

const LOKI: LokiConfig = testConfig().loki;
const MASKING = testConfig().masking;
const POLICY: MaskingPolicy = compileMaskingPolicy(MASKING);
/** Masks nothing: most tests here are about the shape of the Loki entry. */
const KEEP: MaskingPolicy = { replacement: '****', rules: new Set(), maskText: (text) => text, maskNumber: (value) => value, ruleFor: () => undefined };
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function entry(metadata?: Record<string, unknown>, fields: Partial<IngestEntry> = {}): IngestEntry {
  const e: IngestEntry = { timestamp: '2025-09-24T12:00:00Z', level: 'INFO', message: 'hello', service: 'api', env: 'prod', ...fields };
  if (metadata !== undefined) e.metadata = metadata;
  return e;
}

function builder(loki: Partial<LokiConfig> = {}, policy: MaskingPolicy = KEEP) {
  const built = createLokiEntryBuilder({ ...LOKI, ...loki });
  return { build: (e: IngestEntry, seconds: number, nanos: number) => built.build(e, policy, seconds, nanos) };
}

/** Scalars and empty containers under `value`: the pairs it flattens to. */
function leaves(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 1;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.length === 0 ? 1 : children.reduce((n: number, child) => n + leaves(child), 0);
}

t.test('labels come from service, env and level by default; the line is the message', async (t) => {
  const out = builder().build(entry(), 1758715200, 123);
  t.same(out, { seconds: 1758715200, nanos: 123, labels: '{env="prod", level="INFO", service="api"}', line: 'hello', structuredMetadata: [] });
});

t.test('flattens metadata into structured metadata with label-safe names', async (t) => {
  const metadata = {
    order_id: 'O-1',
    amount: 21322.5,
    ok: true,
    gone: null,
    http: { method: 'POST', headers: { Authorization: 'Beare****', 'user-agent': 'curl/8.4' } },
    tags: ['a', { deep: 1 }, []],
    empty: {},
    '2xx': 3,
    '': 'blank',
    'ключ': 'значение',
    nested: { '9lives': 'cat', 'a.b': 'dot' },
  };
  t.same(builder().build(entry(metadata), 0, 0).structuredMetadata, [
    ['order_id', 'O-1'],
    ['amount', '21322.5'],
    ['ok', 'true'],
    ['gone', 'null'],
    ['http_method', 'POST'],
    ['http_headers_Authorization', 'Beare****'],
    ['http_headers_user_agent', 'curl/8.4'],
    ['tags_0', 'a'],
    ['tags_1_deep', '1'],
    ['tags_2', '[]'],
    ['empty', '{}'],
    ['_2xx', '3'],
    ['_', 'blank'],
    ['____', 'значение'],
    ['nested_9lives', 'cat'],
    ['nested_a_b', 'dot'],
  ]);
});

t.test('resolves name collisions deterministically, the later path taking a suffix', async (t) => {
  const build = builder();
  t.same(build.build(entry({ a_b: 1, a: { b: 2 }, 'a-b': 3, a_b_2: 4 }), 0, 0).structuredMetadata, [
    ['a_b', '1'],
    ['a_b_2', '2'],
    ['a_b_3', '3'],
    ['a_b_2_2', '4'],
  ]);
  t.same(build.build(entry({ a: { b: 2 }, a_b: 1 }), 0, 0).structuredMetadata, [
    ['a_b', '2'],
    ['a_b_2', '1'],
  ], 'document order decides, and each entry starts afresh');
  t.same(build.build(entry({ a_b: 1 }), 0, 0).structuredMetadata, [['a_b', '1']]);
});

t.test('every flattened name is unique and label-safe, one pair per leaf (property)', async (t) => {
  const build = builder({ labels: ['service'] });
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 12 }), (metadata) => {
      const pairs = build.build(entry(metadata as Record<string, unknown>), 0, 0).structuredMetadata;
      const names = pairs.map(([name]) => name);
      if (new Set(names).size !== names.length) throw new Error(`duplicate names ${JSON.stringify(names)}`);
      for (const name of names) if (!LABEL_NAME.test(name)) throw new Error(`bad name ${name}`);
      const expected = 2 + (Object.keys(metadata).length === 0 ? 0 : leaves(metadata));
      if (pairs.length !== expected) throw new Error(`${pairs.length} pairs for ${expected} leaves`);
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random metadata objects');
});

t.test('fields that are not labels go to structured metadata first, ahead of metadata keys', async (t) => {
  const out = builder({ labels: ['service'] }).build(entry({ level: 'custom', x: 1 }, { level: 'WARN' }), 0, 0);
  t.equal(out.labels, '{service="api"}');
  t.same(out.structuredMetadata, [
    ['level', 'WARN'],
    ['env', 'prod'],
    ['level_2', 'custom'],
    ['x', '1'],
  ]);
  t.equal(builder({ labels: [] }).build(entry(), 0, 0).labels, '{}');
});

t.test('adds static labels; a static label wins over the entry field, which is kept as metadata', async (t) => {
  const build = builder({ static_labels: { cluster: 'eu-1', env: 'forced' } });
  const out = build.build(entry({ k: 'v' }), 0, 0);
  t.same(parseLabels(out.labels), { cluster: 'eu-1', env: 'forced', level: 'INFO', service: 'api' });
  t.same(out.structuredMetadata, [
    ['env', 'prod'],
    ['k', 'v'],
  ]);
  t.equal(builder({ labels: [], static_labels: { job: 'a"b\\c' } }).build(entry(), 0, 0).labels, '{job="a\\"b\\\\c"}', 'escaped by formatLabels');
});

t.test('keeps label strings right across many distinct label sets, past the cache bound', async (t) => {
  const build = builder();
  const levels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
  let wrong = 0;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 12_000; i++) {
      const fields = { service: `svc-${i % 4000}`, env: `env-${i % 3}`, level: levels[i % 6]! };
      const labels = parseLabels(build.build(entry(undefined, fields), 0, 0).labels);
      if (labels.service !== fields.service || labels.env !== fields.env || labels.level !== fields.level) wrong++;
    }
  }
  t.equal(wrong, 0);
});

t.test('keeps names right across many distinct metadata keys, past the name cache bound', async (t) => {
  const build = builder();
  let wrong = 0;
  for (let i = 0; i < 1_500; i++) {
    const metadata: Record<string, unknown> = { same: { x: i } };
    for (let k = 0; k < 100; k++) metadata[`k${i}_${k}`] = k;
    metadata.same_x = 'collides';
    const pairs = build.build(entry(metadata), 0, 0).structuredMetadata;
    if (pairs[0]?.[0] !== 'same_x' || pairs[0][1] !== String(i) || pairs[101]?.[0] !== 'same_x_2' || pairs[50]?.[0] !== `k${i}_49`) wrong++;
  }
  t.equal(wrong, 0);
});

t.test('json_line mode puts message, the non-label fields and metadata into a JSON line', async (t) => {
  const metadata = { user: { id: 7, tags: ['a'] }, note: 'quote " and \n newline' };
  const out = builder({ metadata_mode: 'json_line' }).build(entry(metadata, { message: 'héllo' }), 5, 6);
  t.equal(out.labels, '{env="prod", level="INFO", service="api"}');
  t.same(out.structuredMetadata, []);
  t.same(JSON.parse(out.line), { message: 'héllo', metadata });
  t.equal(out.line, '{"message":"héllo","metadata":{"user":{"id":7,"tags":["a"]},"note":"quote \\" and \\n newline"}}');

  const partial = builder({ metadata_mode: 'json_line', labels: ['env'] }).build(entry(undefined, { level: 'ERROR' }), 5, 6);
  t.equal(partial.line, '{"message":"hello","level":"ERROR","service":"api"}', 'no metadata key without metadata');
  t.equal(partial.labels, '{env="prod"}');
});

t.test('metadata is masked as it is flattened: keys by rule at any depth, values by pattern', async (t) => {
  const metadata = {
    password: { old: 'hunter2', new: 'hunter3' },
    user: { email: 'jane.doe@example.com', cards: ['4111 1111 1111 1111', 4111111111111111, 42] },
    http: { Authorization: 'Bearer sk_live_abcdefghijklmnop' },
    note: 'paid with 4111-1111-1111-1111',
  };
  const out = builder({}, POLICY).build(entry(metadata, { message: 'card 4111111111111111', service: 'api 4111 1111 1111 1111' }), 0, 0);
  t.same(out.structuredMetadata, [
    ['password', '****'],
    ['user_email', 'j******e@example.com'],
    ['user_cards_0', '****1111'],
    ['user_cards_1', '****1111'],
    ['user_cards_2', '42'],
    ['http_Authorization', 'Beare****'],
    ['note', 'paid with ****1111'],
  ]);
  t.equal(out.line, 'card ****1111');
  t.equal(parseLabels(out.labels).service, 'api ****1111', 'labels are built from the masked fields');
});

/**
 * Metadata where secrets are likely: keys the policy masks, card numbers as text and as numbers,
 * objects that name their value (`{"name": "DB_PASSWORD", "value": …}`).
 */
const secretKey = fc.oneof(fc.constantFrom('password', 'Token', 'authorization', 'email', 'card_number', 'note', 'user', '0', '__proto__', 'name', 'value', 'Key'), fc.string({ maxLength: 6 }));
const secretValue = fc.oneof(
  fc.constantFrom('4111 1111 1111 1111', '4111-1111-1111-1111', 4111111111111111, 'jane.doe@example.com', 'Bearer sk_live_abcdefghijklmnop', 'Basic dXNlcjpwYXNz', '', 'DB_PASSWORD', 'hunter2'),
  fc.jsonValue({ maxDepth: 2 }),
);
const secretMetadata = fc.letrec<{ obj: Record<string, unknown>; value: unknown }>((tie) => ({
  obj: fc.dictionary(secretKey, tie('value'), { maxKeys: 6 }),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, secretValue, tie('obj'), fc.array(tie('value'), { maxLength: 3 })),
})).obj;

for (const metadata_mode of ['structured_metadata', 'json_line'] as const) {
  t.test(`${metadata_mode}: masking while building gives what masking the entry first gives (property)`, async (t) => {
    const direct = builder({ metadata_mode }, POLICY);
    const twoStep = builder({ metadata_mode }, KEEP);
    fc.assert(
      fc.property(secretMetadata, fc.constantFrom('hello', 'card 4111 1111 1111 1111'), (metadata, message) => {
        const e = entry(metadata, { message });
        deepStrictEqual(direct.build(e, 1, 2), twoStep.build(maskEntry(e, POLICY), 1, 2));
      }),
      { numRuns: 1000 },
    );
    t.pass('1000 random metadata objects');
  });
}

t.test('a batch abandoned and built again gives the same names: the caches forget only what they learnt from it', async (t) => {
  const built = createLokiEntryBuilder(LOKI);
  const first = entry({ 'a.b': 1, nested: { x: [1, 2] } });
  const kept = built.build(first, KEEP, 1, 0);
  built.commit();
  const refused = built.build(entry({ 'a.b': 2, 'a_b': 3, fresh: { deep: true } }, { service: 'other' }), KEEP, 1, 0);
  built.abandon();
  t.same(built.build(entry({ 'a.b': 2, 'a_b': 3, fresh: { deep: true } }, { service: 'other' }), KEEP, 1, 0), refused);
  built.abandon();
  t.same(built.build(first, KEEP, 1, 0), kept);
  t.same(refused.structuredMetadata.map(([name]) => name), ['a_b', 'a_b_2', 'fresh_deep']);
});
