import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import { isLogstackError } from '../../../src/errors.js';
import { parseLabels } from '../../../src/loki/entry.js';
import { parseTimestamp } from '../../../src/pipeline/timestamp.js';
import type { EntryProblem, IngestPipeline, PreparedBatch } from '../../../src/pipeline/types.js';
import { createIngestPipeline } from '../../../src/sources/native/ingest-pipeline.js';
import { unitsBeforeMasking } from '../../../src/pipeline/limits.js';
import { APP_TOKEN, testConfig } from '../../support/config.js';
import { decodedEntries } from '../../support/wal.js';
import { cookieHeader, maskedTexts } from '../../support/masked-texts.js';

const SAMPLES = new URL('../../fixtures/samples/', import.meta.url);
const NOW_MS = Date.parse('2025-09-24T12:05:00Z');
/** Secrets of the shared samples that masking must keep out of every payload. */
const SAMPLE_SECRETS = ['hunter2', 'sk_live_51H8abcdefghijklmnop', '4111 1111 1111 1111', '4111-1111-1111-1111', 'ak_9f8e7d6c5b4a3210', 'jane.doe0@example.com'];

interface SampleEntry {
  timestamp: string;
  level: string;
  message: string;
  service: string;
  env: string;
  metadata: Record<string, unknown>;
}

function sample(name: string): { entries: SampleEntry[] } {
  return JSON.parse(readFileSync(new URL(name, SAMPLES), 'utf8')) as { entries: SampleEntry[] };
}

function entry(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { timestamp: '2025-09-24T12:00:00.000Z', level: 'INFO', message: 'hello', service: 'api', env: 'prod', ...fields };
}

async function problemsOf(pipeline: IngestPipeline, body: unknown, key = 'app'): Promise<EntryProblem[]> {
  try {
    await pipeline.prepare(key, body, NOW_MS);
  } catch (err) {
    if (isLogstackError(err, 'VALIDATION_FAILED')) return err.details as EntryProblem[];
    throw err;
  }
  throw new Error('the batch was accepted');
}

function leaks(batch: PreparedBatch, secrets: readonly string[]): string[] {
  const all = Buffer.concat([batch.batch.data, Buffer.from(batch.batch.labelSets.join(''))]);
  return secrets.filter((secret) => all.includes(Buffer.from(secret)));
}

t.test('prepares the shared samples with no secret left in the payload bytes', async (t) => {
  for (const mode of ['structured_metadata', 'json_line'] as const) {
    const pipeline = createIngestPipeline(testConfig({ loki: { metadata_mode: mode } }));
    for (const name of ['ingest-small.json', 'ingest-100.json']) {
      const body = sample(name);
      const batch = await pipeline.prepare('app', body, NOW_MS);
      t.equal(batch.entries, body.entries.length, `${mode} ${name}`);
      t.equal(batch.batch.entries, body.entries.length);
      t.equal(batch.bytes, batch.batch.data.length);
      t.same(leaks(batch, SAMPLE_SECRETS), [], `${mode} ${name}: no secret in the payloads`);
      const emails = body.entries.map((e) => (e.metadata.user as { email?: string } | undefined)?.email).filter((e): e is string => e !== undefined);
      t.same(leaks(batch, emails), [], `${mode} ${name}: no email address`);
    }
  }
});

t.test('decodes back to the labels, masked line, metadata and timestamps of each entry', async (t) => {
  const body = sample('ingest-small.json');
  const batch = await createIngestPipeline(testConfig()).prepare('app', body, NOW_MS);
  body.entries.forEach((source, i) => {
    const decoded = decodedEntries(batch.batch)[i]!;
    const ts = parseTimestamp(source.timestamp);
    t.ok(ts.ok);
    if (ts.ok) t.same([decoded.seconds, decoded.nanos], [ts.seconds, ts.nanos], `entry ${i} timestamp`);
    t.same(parseLabels(decoded.labels), { service: source.service, env: source.env, level: source.level }, `entry ${i} labels`);
    t.equal(decoded.line, source.message.replace('4111-1111-1111-1111', '****1111'), `entry ${i} line`);
    const metadata = new Map(decoded.structuredMetadata);
    t.equal(metadata.get('order_id'), source.metadata.order_id);
    t.equal(metadata.get('amount'), String(source.metadata.amount));
    t.equal(metadata.get('http_headers_Authorization'), 'Beare****');
    t.equal(metadata.get('http_headers_user_agent'), 'curl/8.4');
    t.equal(metadata.get('user_email'), `j*******${i}@example.com`);
    t.equal(metadata.get('user_password'), '****');
    t.equal(metadata.get('user_id'), String(i));
    if ('card_number' in source.metadata) t.equal(metadata.get('card_number'), '****');
  });
});

t.test('puts masked metadata into the line in json_line mode', async (t) => {
  const pipeline = createIngestPipeline(testConfig({ loki: { metadata_mode: 'json_line', labels: ['service', 'env'] } }));
  const batch = await pipeline.prepare('app', { entries: [entry({ level: 'WARN', message: 'card 4111111111111111', metadata: { password: 'hunter2', n: 1 } })] }, NOW_MS);
  const decoded = decodedEntries(batch.batch)[0]!;
  t.same(JSON.parse(decoded.line), { message: 'card ****1111', level: 'WARN', metadata: { password: '****', n: 1 } });
  t.same(decoded.structuredMetadata, []);
  t.equal(decoded.labels, '{env="prod", service="api"}');
});

t.test('masks with the policy of the key that sent the batch, by its name', async (t) => {
  const config = testConfig({
    security: {
      api_keys: {
        [APP_TOKEN]: { name: 'app' },
        tok_billing_0123456789: { name: 'billing', masking: { exempt_keys: ['email'], extra_keys: ['iban'] } },
        tok_billing_other_0123: { name: 'billing', masking: { exempt_keys: ['email'], extra_keys: ['iban'] } },
      },
    },
  });
  const pipeline = createIngestPipeline(config);
  const body = { entries: [entry({ metadata: { email: 'jane@example.com', iban: 'DE89370400440532013000' } })] };
  const asApp = new Map(decodedEntries((await pipeline.prepare('app', body, NOW_MS)).batch)[0]!.structuredMetadata);
  const asBilling = new Map(decodedEntries((await pipeline.prepare('billing', body, NOW_MS)).batch)[0]!.structuredMetadata);
  t.same([asApp.get('email'), asApp.get('iban')], ['j**e@example.com', 'DE89370400440532013000']);
  t.same([asBilling.get('email'), asBilling.get('iban')], ['jane@example.com', '****']);
  await t.rejects(pipeline.prepare('nobody', body, NOW_MS), TypeError, 'an unknown key name is a programming error');
});

t.test('refuses to start with two keys of one name but different masking', async (t) => {
  const config = testConfig({
    security: {
      api_keys: {
        tok_a_0123456789abcdef: { name: 'shared', masking: { extra_keys: ['x'] } },
        tok_b_0123456789abcdef: { name: 'shared' },
      },
    },
  });
  t.throws(() => createIngestPipeline(config), TypeError);
  const badPattern = testConfig({ masking: { patterns: { custom: [{ name: 'p', pattern: '(' }] } } });
  t.throws(() => createIngestPipeline(badPattern), { code: 'LOGSTACK_ERR_CONFIG_INVALID' });
});

t.test('passes validation failures through, writing nothing', async (t) => {
  const pipeline = createIngestPipeline(testConfig({ limits: { max_entries: 2 } }));
  t.same((await problemsOf(pipeline, { entries: [entry(), entry({ level: 'LOUD' })] })).map((p) => p.pointer), ['/entries/1/level']);
  await t.rejects(pipeline.prepare('app', { entries: [entry(), entry(), entry()] }, NOW_MS), { code: 'LOGSTACK_ERR_HTTP_TOO_MANY_ENTRIES', status: 413 });
});

t.test('refuses a line that masking made longer than limits.max_message_bytes', async (t) => {
  const pipeline = createIngestPipeline(testConfig({ limits: { max_message_bytes: 10 } }));
  t.equal((await pipeline.prepare('app', { entries: [entry({ message: 'abcdefghij' })] }, NOW_MS)).entries, 1, '10 bytes fit');
  const problems = await problemsOf(pipeline, { entries: [entry({ message: 'ok' }), entry({ message: 'Bearer x1' })] });
  t.same(problems.map((p) => [p.index, p.pointer]), [[1, '/entries/1/message']]);
  t.match(problems[0]?.reason, /after masking, the message is longer than 10 UTF-8 bytes/);

  const jsonLine = createIngestPipeline(testConfig({ limits: { max_message_bytes: 40 }, loki: { metadata_mode: 'json_line' } }));
  const lineProblems = await problemsOf(jsonLine, { entries: [entry({ message: 'short', metadata: { note: 'x'.repeat(30) } })] });
  t.same(lineProblems.map((p) => [p.index, p.pointer]), [[0, '/entries/0']]);
  t.match(lineProblems[0]?.reason, /JSON line/);
});

t.test("refuses metadata over Loki's structured metadata size, counted in UTF-8 bytes of names and values", async (t) => {
  const pipeline = createIngestPipeline(testConfig({ limits: { max_structured_metadata_bytes: 100 } }));
  // order_id (8) + 92 bytes = 100: fits.
  t.equal((await pipeline.prepare('app', { entries: [entry({ metadata: { order_id: 'x'.repeat(92) } })] }, NOW_MS)).entries, 1);
  // 31 three-byte characters: 31 UTF-16 units but 93 bytes.
  const problems = await problemsOf(pipeline, { entries: [entry(), entry({ metadata: { order_id: '€'.repeat(31) } })] });
  t.same(problems.map((p) => [p.index, p.pointer]), [[1, '/entries/1/metadata']]);
  t.match(problems[0]?.reason, /101 bytes, over 100 \(limits.max_structured_metadata_bytes\)/);
  t.notMatch(problems[0]?.reason, /€/, 'the value is not echoed');
});

t.test('keeps every value under a masked key out of the payload, at any depth (property)', async (t) => {
  const config = testConfig();
  const pipelines = [createIngestPipeline(config), createIngestPipeline(testConfig({ loki: { metadata_mode: 'json_line' } }))];
  const key = fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__' && k !== 'constructor' && k !== 'prototype');
  const { object } = fc.letrec((tie) => ({
    value: fc.oneof({ maxDepth: 3 }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), tie('object'), fc.array(tie('value'), { maxLength: 3 })),
    object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  }));
  const maskedKey = fc
    .tuple(fc.constantFrom(...config.masking.baseline_keys), fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }))
    .map(([name, upper]) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));
  const marker = fc.string({ unit: 'grapheme', minLength: 8, maxLength: 40 }).map((s) => `MARK${s}`);

  await fc.assert(
    fc.asyncProperty(object, fc.array(key, { maxLength: 5 }), maskedKey, marker, async (tree, path, secretKey, secret) => {
      const metadata = tree as Record<string, unknown>;
      let node = metadata;
      for (const step of path) {
        const next: Record<string, unknown> = {};
        node[step] = next;
        node = next;
      }
      node[secretKey] = secret;
      for (const pipeline of pipelines) {
        const batch = await pipeline.prepare('app', { entries: [entry({ metadata })] }, NOW_MS);
        // As it is, and as a JSON line would escape it.
        if (leaks(batch, [secret, JSON.stringify(secret).slice(1, -1)]).length > 0) throw new Error(`${JSON.stringify(secret)} under ${secretKey} leaked`);
      }
    }),
    { numRuns: 500 },
  );
  t.pass('500 random metadata objects');
});

t.test('metadata too long for masking to bring under its limit is refused before it is masked', async (t) => {
  const pipeline = createIngestPipeline(testConfig({ limits: { max_structured_metadata_bytes: 1000, max_message_bytes: 1000 } }));
  const bound = unitsBeforeMasking(1000);
  const masked = maskedTexts(t);
  const over = await problemsOf(pipeline, { entries: [entry({ metadata: { c: cookieHeader(bound) } })] });
  t.match(over, [{ index: 0, pointer: '/entries/0/metadata', reason: /more than masking could bring under 1000 UTF-8 bytes \(limits.max_structured_metadata_bytes, limits.max_message_bytes\)/ }]);
  t.same(masked.filter((length) => length > 1000), [], 'nothing long was masked');

  // One unit less and masking might have brought it under: it is masked, then refused as before.
  const within = await problemsOf(pipeline, { entries: [entry({ metadata: { c: cookieHeader(bound - 1) } })] });
  t.match(within, [{ index: 0, pointer: '/entries/0/metadata', reason: /as Loki structured metadata it is \d+ bytes, over 1000/ }]);
  t.ok(masked.some((length) => length === bound - 1), 'at the bound it was masked');
});
