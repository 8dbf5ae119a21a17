import t from 'tap';
import { isLogstackError, type LogstackError } from '../../../src/errors.js';
import { createLokiPushPipeline } from '../../../src/sources/loki-push/loki-push-pipeline.js';
import type { LokiPushRequest, PushStream } from '../../../src/sources/loki-push/loki-push-request.js';
import { MAX_LISTED_PROBLEMS } from '../../../src/sources/loki-push/loki-push-validate.js';
import { unitsBeforeMasking } from '../../../src/pipeline/limits.js';
import { testConfig } from '../../support/config.js';
import { decodedEntries } from '../../support/wal.js';
import { cookieHeader, maskedTexts } from '../../support/masked-texts.js';

const NOW_MS = Date.UTC(2025, 8, 24, 12);
const NOW_S = NOW_MS / 1000;

function request(streams: PushStream[]): LokiPushRequest {
  return { streams, entries: streams.reduce((n, s) => n + s.entries.length, 0) };
}

async function refusal(prepared: Promise<unknown>): Promise<LogstackError> {
  try {
    await prepared;
  } catch (err) {
    if (isLogstackError(err, 'LOKI_PUSH_INVALID')) return err;
    throw err;
  }
  throw new Error('accepted');
}

t.test('each entry becomes a WAL payload: labels filtered, masked and joined with static labels; line and metadata masked', async (t) => {
  const pipeline = createLokiPushPipeline(
    testConfig({ loki: { static_labels: { cluster: 'eu-1' }, metadata_mode: 'json_line' }, loki_push: { label_denylist: ['filename'] } }),
  );
  const batch = await pipeline.prepare(
    'app',
    request([
      {
        labels: '{job="shop", filename="/x.log", cluster="client-says", secret="s3"}',
        entries: [
          { seconds: NOW_S, nanos: 1, line: 'card 4111 1111 1111 1111', structuredMetadata: [['password', 'p'], ['trace', 't-1']] },
          { seconds: NOW_S, nanos: 2, line: '{"password":"p","msg":"m"}', structuredMetadata: [] },
        ],
      },
      { labels: [['job', 'auth']], entries: [{ seconds: NOW_S - 1, nanos: 999_999_999, line: 'ok', structuredMetadata: [] }] },
    ]),
    NOW_MS,
  );
  t.equal(batch.entries, 3);
  t.equal(batch.bytes, batch.batch.data.length);
  t.same(batch.batch.labelSets, ['{cluster="eu-1", job="shop", secret="****"}', '{cluster="eu-1", job="auth"}'], 'each label set once');
  t.same(decodedEntries(batch.batch), [
    { seconds: NOW_S, nanos: 1, labels: '{cluster="eu-1", job="shop", secret="****"}', line: 'card ****1111', structuredMetadata: [['password', '****'], ['trace', 't-1']] },
    { seconds: NOW_S, nanos: 2, labels: '{cluster="eu-1", job="shop", secret="****"}', line: '{"password":"****","msg":"m"}', structuredMetadata: [] },
    { seconds: NOW_S - 1, nanos: 999_999_999, labels: '{cluster="eu-1", job="auth"}', line: 'ok', structuredMetadata: [] },
  ]);
});

t.test('an empty push is accepted and writes nothing', async (t) => {
  t.match(await createLokiPushPipeline(testConfig()).prepare('app', request([]), NOW_MS), { batch: { entries: 0 }, entries: 0, bytes: 0 });
});

t.test('every problem is found, by stream and entry, and counted; the list is bounded', async (t) => {
  const pipeline = createLokiPushPipeline(testConfig({ limits: { max_structured_metadata_bytes: 10, max_message_bytes: 10 } }));
  const err = await refusal(
    pipeline.prepare(
      'app',
      request([
        { labels: '{job="a"', entries: [{ seconds: NOW_S, nanos: 0, line: 'x', structuredMetadata: [] }, { seconds: NOW_S, nanos: 0, line: 'y', structuredMetadata: [] }] },
        {
          labels: [['job', 'b']],
          entries: [
            { seconds: NOW_S, nanos: 0, line: 'fine', structuredMetadata: [] },
            { seconds: NOW_S, nanos: 1e9, line: 'x', structuredMetadata: [] },
            { seconds: NOW_S, nanos: 0, line: 'x', structuredMetadata: [['name', 'value-too-long']] },
            { seconds: NOW_S, nanos: 0, line: 'ééééé!', structuredMetadata: [] },
          ],
        },
      ]),
      NOW_MS,
    ),
  );
  t.equal(err.message, '5 of 6 entries are invalid; nothing of the push was written');
  t.match(err.details, [
    { stream: 0, reason: /not a label set/ },
    { stream: 1, entry: 1, reason: /nanos outside/ },
    { stream: 1, entry: 2, reason: /18 bytes of structured metadata after masking; at most 10/ },
    { stream: 1, entry: 3, reason: /line longer than 10 UTF-8 bytes/ },
  ]);

  const many = Array.from({ length: 500 }, () => ({ seconds: 1, nanos: 0, line: 'old', structuredMetadata: [] }));
  const flood = await refusal(pipeline.prepare('app', request([{ labels: '{job="a"}', entries: many }]), NOW_MS));
  t.equal(flood.message, '500 of 500 entries are invalid; nothing of the push was written');
  t.equal((flood.details as unknown[]).length, MAX_LISTED_PROBLEMS);
});

t.test('a key the pipeline does not know is a programming error', async (t) => {
  await t.rejects(createLokiPushPipeline(testConfig()).prepare('nobody', request([]), NOW_MS), TypeError);
});

t.test('__proto__, constructor and prototype as structured metadata names are refused, as ingest refuses such metadata keys', async (t) => {
  const pipeline = createLokiPushPipeline(testConfig());
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    const err = await refusal(
      pipeline.prepare('app', request([{ labels: '{job="a"}', entries: [{ seconds: NOW_S, nanos: 0, line: 'x', structuredMetadata: [['ok', '1'], [name, 'v']] }] }]), NOW_MS),
    );
    t.same(err.details, [{ stream: 0, entry: 0, reason: 'has structured metadata pair 1 with a forbidden name (__proto__, constructor and prototype are refused)' }], name);
  }
});

t.test('a line, structured metadata or label value too long for masking to bring under its limit is refused before it is masked', async (t) => {
  const limits = { max_message_bytes: 1000, max_structured_metadata_bytes: 1000 };
  const pipeline = createLokiPushPipeline(testConfig({ limits, loki_push: { max_label_value_length: 1000 } }));
  const bound = unitsBeforeMasking(1000);
  const masked = maskedTexts(t);
  const entry = (line: string, structuredMetadata: Array<[string, string]> = []) => ({ seconds: NOW_S, nanos: 0, line, structuredMetadata });
  const cases = [
    { what: 'line', stream: { labels: [['job', 'a']] as Array<[string, string]>, entries: [entry(cookieHeader(bound + 1))] }, reason: /line longer than 1000 UTF-8 bytes after masking \(limits.max_message_bytes\); refused before masking/ },
    { what: 'metadata', stream: { labels: [['job', 'a']] as Array<[string, string]>, entries: [entry('x', [['c', cookieHeader(bound)]])] }, reason: /more than 1000 bytes of structured metadata after masking \(limits.max_structured_metadata_bytes\); refused before masking/ },
    { what: 'label', stream: { labels: [['job', cookieHeader(bound + 1)]] as Array<[string, string]>, entries: [entry('x')] }, reason: /label "job" has a value longer than 1000 bytes \(loki_push.max_label_value_length\); refused before masking/ },
  ];
  for (const { what, stream, reason } of cases) {
    masked.length = 0;
    const err = await refusal(pipeline.prepare('app', request([stream]), NOW_MS));
    t.match(err.details, [{ stream: 0, reason }], `${what}: refused`);
    t.same(masked.filter((length) => length > 1000), [], `${what}: nothing long was masked`);
  }

  // One unit less and masking might have brought it under: it is masked, then refused as before.
  const cases2 = [
    { what: 'line', stream: { labels: [['job', 'a']] as Array<[string, string]>, entries: [entry(cookieHeader(bound))] }, reason: /line longer than 1000 UTF-8 bytes after masking \(limits.max_message_bytes\)$/ },
    { what: 'metadata', stream: { labels: [['job', 'a']] as Array<[string, string]>, entries: [entry('x', [['c', cookieHeader(bound - 1)]])] }, reason: /bytes of structured metadata after masking; at most 1000/ },
    { what: 'label', stream: { labels: [['job', cookieHeader(bound)]] as Array<[string, string]>, entries: [entry('x')] }, reason: /label "job" has a value longer than 1000 bytes \(loki_push.max_label_value_length\)$/ },
  ];
  for (const { what, stream, reason } of cases2) {
    masked.length = 0;
    const err = await refusal(pipeline.prepare('app', request([stream]), NOW_MS));
    t.match(err.details, [{ stream: 0, reason }], `${what} at the bound: refused after masking`);
    t.ok(masked.some((length) => length >= bound - 1), `${what} at the bound: masked`);
  }
});
