import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { uncompressSync } from 'snappy';
import t from 'tap';
import type { Test } from 'tap';
import { formatLabels } from '../../src/loki/entry.js';
import type { LokiEntry } from '../../src/loki/entry.js';
import { createPushSizer, encodePush, pushSize, splitPayloads } from '../../src/loki/push-request.js';
import type { PushEncoding } from '../../src/loki/push-request.js';
import { createLokiStandIn } from '../support/loki-stand-in.js';
import type { LokiStandIn } from '../support/loki-stand-in.js';
import { shipped } from '../support/wal.js';

const API = formatLabels({ service: 'api', env: 'prod', level: 'INFO' });
const WORKER = formatLabels({ service: 'worker', env: 'prod', level: 'ERROR' });

function entry(labels: string, seconds: number, nanos: number, line: string, structuredMetadata: Array<[string, string]> = []): LokiEntry {
  return { labels, seconds, nanos, line, structuredMetadata };
}

const ENTRIES: LokiEntry[] = [
  entry(API, 1758715200, 123456789, 'héllo wörld ✓ 日本 🚀', [['trace_id', '4bf92f3577b34da6'], ['http.status', '200']]),
  entry(WORKER, 1758715200, 5, 'job failed: "quoted" \\ backslash\nsecond line'),
  entry(API, 1758715201, 0, 'second api entry'),
  entry(API, 0, 42, 'near the epoch'),
  entry(WORKER, 1758715202, 999999999, 'last', [['user', '****']]),
];

async function standIn(t: Test): Promise<LokiStandIn> {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  return loki;
}

async function send(loki: LokiStandIn, entries: readonly LokiEntry[], encoding: PushEncoding): Promise<number> {
  const push = await encodePush(entries.map(shipped), encoding);
  const res = await fetch(`${loki.url}/loki/api/v1/push`, { method: 'POST', headers: { ...push.headers }, body: push.body });
  await res.arrayBuffer();
  return res.status;
}

const expected = (e: LokiEntry) => ({
  labels: Object.fromEntries([...e.labels.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])),
  tsNs: (BigInt(e.seconds) * 1_000_000_000n + BigInt(e.nanos)).toString(),
  line: e.line,
  structuredMetadata: Object.fromEntries(e.structuredMetadata),
});

for (const encoding of ['protobuf', 'json'] as const) {
  t.test(`a ${encoding} push reaches Loki with labels, exact ns timestamps, unicode lines and structured metadata`, async (t) => {
    const loki = await standIn(t);
    t.equal(await send(loki, ENTRIES, encoding), 204);
    const byStream = (labels: string) => ENTRIES.filter((e) => e.labels === labels).map(expected);
    // Entries arrive grouped by stream, each stream in the order its entries were given.
    t.same(
      loki.received().map(({ tenant: _tenant, ...rest }) => rest),
      [...byStream(API), ...byStream(WORKER)],
    );
  });
}

t.test('protobuf: snappy-compressed x-protobuf, one stream per label set, sizes reported', async (t) => {
  const payloads = ENTRIES.map(shipped);
  const push = await encodePush(payloads, 'protobuf');
  t.same(push.headers, { 'content-type': 'application/x-protobuf' });
  t.equal(push.entries, 5);
  t.equal(push.streams, 2);
  const raw = uncompressSync(push.body, { asBuffer: true }) as Buffer;
  t.equal(push.rawBytes, raw.length);
  t.equal(pushSize(payloads), raw.length, 'pushSize is the exact uncompressed size');
});

t.test('json: gzip, decimal ns strings, metadata object only when there is metadata', async (t) => {
  const push = await encodePush(ENTRIES.map(shipped), 'json');
  t.same(push.headers, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
  const raw = gunzipSync(push.body);
  t.equal(push.rawBytes, raw.length);
  const body = JSON.parse(raw.toString('utf8'));
  t.same(body.streams[0].stream, { env: 'prod', level: 'INFO', service: 'api' });
  t.same(body.streams[0].values, [
    ['1758715200123456789', 'héllo wörld ✓ 日本 🚀', { trace_id: '4bf92f3577b34da6', 'http.status': '200' }],
    ['1758715201000000000', 'second api entry'],
    ['42', 'near the epoch'],
  ]);
});

t.test('redelivering the same payloads is dropped by Loki as duplicates', async (t) => {
  const loki = await standIn(t);
  await send(loki, ENTRIES, 'protobuf');
  await send(loki, ENTRIES, 'protobuf');
  await send(loki, ENTRIES, 'json');
  t.equal(loki.received().length, ENTRIES.length);
  t.equal(loki.duplicatesReceived, 2 * ENTRIES.length);
});

t.test('the push sizer tracks the exact protobuf size as entries are added, across length-prefix growth', async (t) => {
  const arbEntry = fc.record({
    stream: fc.constantFrom(API, WORKER, formatLabels({ service: 'x', env: 'y' })),
    seconds: fc.integer({ min: 0, max: 4_000_000_000 }),
    nanos: fc.integer({ min: 0, max: 999_999_999 }),
    line: fc.string({ unit: 'grapheme', maxLength: 300 }),
    metadata: fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 40 })), { maxLength: 3 }),
  });
  const property = fc.assert(
    fc.asyncProperty(fc.array(arbEntry, { minLength: 1, maxLength: 40 }), async (entries) => {
      const payloads = entries.map((e) => shipped(entry(e.stream, e.seconds, e.nanos, e.line, e.metadata)));
      const sizer = createPushSizer();
      for (const [i, payload] of payloads.entries()) {
        const exact = pushSize(payloads.slice(0, i + 1));
        // Refused a byte under the size it would reach (unless first), taken at exactly that size.
        if (sizer.addWithin(payload, exact - 1) !== (i === 0)) return false;
        if (i > 0 && (sizer.entries !== i || !sizer.addWithin(payload, exact))) return false;
        if (sizer.bytes !== exact) return false;
      }
      const push = await encodePush(payloads, 'protobuf');
      return sizer.bytes === push.rawBytes && sizer.entries === payloads.length;
    }),
    { numRuns: 60 },
  );
  await t.resolves(property);
});

t.test('a stream growing past 127 bytes gets a longer length prefix and the sizer counts it', async (t) => {
  const sizer = createPushSizer();
  const payloads = [];
  for (let i = 0; i < 12; i++) {
    const payload = shipped(entry(API, 1758715200, i, 'a line of sixteen'));
    payloads.push(payload);
    sizer.add(payload);
    t.equal(sizer.bytes, (await encodePush(payloads, 'protobuf')).rawBytes, `after ${i + 1} entries`);
  }
});

t.test('splitPayloads halves in order and cannot split a single entry', async (t) => {
  t.same(splitPayloads([1, 2, 3, 4, 5]), [[1, 2, 3], [4, 5]]);
  t.same(splitPayloads(['a', 'b']), [['a'], ['b']]);
  t.equal(splitPayloads(['only']), null);
  t.equal(splitPayloads([]), null);
});
