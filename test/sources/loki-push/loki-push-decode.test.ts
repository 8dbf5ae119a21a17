import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import t, { type Test } from 'tap';
import { isLogstackError } from '../../../src/errors.js';
import { decodeJsonPush, decodeLegacyJsonPush, decodeProtobufPush } from '../../../src/sources/loki-push/loki-push-decode.js';

const BOUNDS = { maxEntries: 1000, maxStreams: 100, maxMetadataPairs: 128 };
const PushRequest = protobuf.loadSync(fileURLToPath(new URL('../../support/loki-push.proto', import.meta.url))).lookupType('logproto.PushRequest');

function encode(message: Record<string, unknown>): Buffer {
  return Buffer.from(PushRequest.encode(PushRequest.fromObject(message)).finish());
}

function undecodable(t: Test, fn: () => unknown, message: RegExp, what: string): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(isLogstackError(err, 'LOKI_PUSH_UNDECODABLE'), `${what}: LOKI_PUSH_UNDECODABLE`);
    t.match((err as Error).message, message, what);
  }
}

t.test("protobuf as protobufjs encodes Loki's messages, unknown fields skipped", async (t) => {
  const bytes = encode({
    format: 'x',
    streams: [
      {
        labels: '{job="a"}',
        hash: '12345',
        entries: [
          { timestamp: { seconds: '1700000000', nanos: 123456789 }, line: 'héllo', structuredMetadata: [{ name: 'k', value: 'v' }], parsed: [{ name: 'p', value: 'q' }] },
          { timestamp: {}, line: '' },
        ],
      },
      { labels: '{job="b"}' },
    ],
  });
  t.same(decodeProtobufPush(bytes, BOUNDS), {
    streams: [
      {
        labels: '{job="a"}',
        entries: [
          { seconds: 1700000000, nanos: 123456789, line: 'héllo', structuredMetadata: [['k', 'v']] },
          { seconds: 0, nanos: 0, line: '', structuredMetadata: [] },
        ],
      },
      { labels: '{job="b"}', entries: [] },
    ],
    entries: 2,
  });
  t.same(decodeProtobufPush(Buffer.alloc(0), BOUNDS), { streams: [], entries: 0 }, 'an empty PushRequest');
});

t.test('malformed protobuf is refused, saying where', async (t) => {
  const good = encode({ streams: [{ labels: '{job="a"}', entries: [{ timestamp: { seconds: '1' }, line: 'x' }] }] });
  undecodable(t, () => decodeProtobufPush(good.subarray(0, -2), BOUNDS), /truncated or malformed protobuf/, 'truncated');
  undecodable(t, () => decodeProtobufPush(Buffer.from([0x08, 0x01]), BOUNDS), /streams has wire type 0, expected 2/, 'a varint where streams are');
  undecodable(t, () => decodeProtobufPush(encode({ streams: [{ labels: '{}', entries: [{ timestamp: { seconds: '-1' } }] }] }), BOUNDS), /beyond 2\^53/, 'negative seconds');
  undecodable(t, () => decodeProtobufPush(Buffer.from([0x13]), BOUNDS), /unsupported wire type 3/, 'a group');
});

t.test('JSON: ns timestamps exactly, optional structured metadata, unknown fields skipped', async (t) => {
  t.same(
    decodeJsonPush({
      extra: true,
      streams: [
        { stream: { job: 'a' }, values: [['1700000000123456789', 'one'], ['5', 'two', { k: 'v' }], ['9007199254740993123', 'three', null]] },
        { stream: { job: 'b' } },
      ],
    }, BOUNDS),
    {
      streams: [
        {
          labels: [['job', 'a']],
          entries: [
            { seconds: 1700000000, nanos: 123456789, line: 'one', structuredMetadata: [] },
            { seconds: 0, nanos: 5, line: 'two', structuredMetadata: [['k', 'v']] },
            { seconds: 9007199254, nanos: 740993123, line: 'three', structuredMetadata: [] },
          ],
        },
        { labels: [['job', 'b']], entries: [] },
      ],
      entries: 3,
    },
  );
});

t.test('JSON of another shape is refused, saying where', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [[], /the body must be an object \{"streams"/],
    [{ entries: [] }, /the body must be an object \{"streams"/],
    [{ streams: [1] }, /streams\[0\] must be an object/],
    [{ streams: [{ stream: ['a'] }] }, /streams\[0\]\.stream must be an object of strings/],
    [{ streams: [{ stream: { a: 1 } }] }, /streams\[0\]\.stream\.a must be a string/],
    [{ streams: [{ values: {} }] }, /streams\[0\]\.values must be an array/],
    [{ streams: [{ values: [['1']] }] }, /streams\[0\]\.values\[0\] must be/],
    [{ streams: [{ values: [[1, 'x']] }] }, /values\[0\]\[0\] must be a string of nanoseconds/],
    [{ streams: [{ values: [['-1', 'x']] }] }, /values\[0\]\[0\] must be a string of nanoseconds/],
    [{ streams: [{ values: [['12345678901234567890', 'x']] }] }, /values\[0\]\[0\] must be a string of nanoseconds/],
    [{ streams: [{ values: [['1', 2]] }] }, /values\[0\]\[1\] must be a string/],
    [{ streams: [{ values: [['1', 'x', { k: 1 }]] }] }, /values\[0\]\[2\]\.k must be a string/],
  ];
  for (const [body, message] of cases) undecodable(t, () => decodeJsonPush(body, BOUNDS), message, JSON.stringify(body));
});

t.test('legacy JSON of /api/prom/push: label text, RFC 3339 timestamps', async (t) => {
  t.same(
    decodeLegacyJsonPush({
      streams: [{ labels: '{job="a"}', entries: [{ ts: '2025-09-24T12:00:00.123456789+02:00', line: 'x', structuredMetadata: [{ name: 'k', value: 'v' }] }] }],
    }, BOUNDS),
    { streams: [{ labels: '{job="a"}', entries: [{ seconds: 1758708000, nanos: 123456789, line: 'x', structuredMetadata: [['k', 'v']] }] }], entries: 1 },
  );
  undecodable(t, () => decodeLegacyJsonPush({ streams: [{ labels: { job: 'a' } }] }, BOUNDS), /labels must be a string/, 'labels as an object');
  undecodable(t, () => decodeLegacyJsonPush({ streams: [{ labels: '{}', entries: [{ ts: '1700000000', line: 'x' }] }] }, BOUNDS), /entries\[0\]\.ts must be an RFC 3339/, 'a ns timestamp');
});

t.test('field number 0 is refused, as Loki refuses it: a block of zeros is no empty push', async (t) => {
  undecodable(t, () => decodeProtobufPush(Buffer.alloc(1024), BOUNDS), /illegal tag 0/, 'zeros');
  undecodable(t, () => decodeProtobufPush(Buffer.from([0x0a, 0x02, 0x02, 0x00]), BOUNDS), /illegal tag 2 \(field number 0\)/, 'field 0 inside a stream');
  const entry = encode({ streams: [{ labels: '{a="b"}', entries: [{ timestamp: { seconds: '1' }, line: 'x' }] }] });
  undecodable(t, () => decodeProtobufPush(Buffer.concat([entry, Buffer.from([0x00])]), BOUNDS), /illegal tag 0/, 'a zero byte after a good stream');
});

t.test('decoding stops at one entry or one stream past the bounds: 413, whatever the format', async (t) => {
  const bounds = { maxEntries: 5, maxStreams: 2, maxMetadataPairs: 128 };
  const refused = (fn: () => unknown, name: 'LOKI_PUSH_TOO_MANY_ENTRIES' | 'LOKI_PUSH_TOO_MANY_STREAMS', what: string) => {
    try {
      fn();
      t.fail(`${what}: accepted`);
    } catch (err) {
      t.ok(isLogstackError(err, name), `${what}: ${name}`);
      t.equal((err as { status?: number }).status, 413);
    }
  };
  const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ timestamp: { seconds: '1' }, line: `l${i}` }));
  const values = (n: number) => Array.from({ length: n }, (_, i) => ['1', `l${i}`]);
  t.equal(decodeProtobufPush(encode({ streams: [{ labels: '{a="1"}', entries: entries(3) }, { labels: '{a="2"}', entries: entries(2) }] }), bounds).entries, 5, 'at the bound');
  refused(() => decodeProtobufPush(encode({ streams: [{ labels: '{a="1"}', entries: entries(3) }, { labels: '{a="2"}', entries: entries(3) }] }), bounds), 'LOKI_PUSH_TOO_MANY_ENTRIES', 'protobuf, 6 entries');
  refused(() => decodeProtobufPush(encode({ streams: [{ labels: '{a="1"}' }, { labels: '{a="2"}' }, { labels: '{a="3"}' }] }), bounds), 'LOKI_PUSH_TOO_MANY_STREAMS', 'protobuf, 3 streams');
  t.equal(decodeJsonPush({ streams: [{ stream: { a: '1' }, values: values(5) }] }, bounds).entries, 5);
  refused(() => decodeJsonPush({ streams: [{ stream: { a: '1' }, values: values(2) }, { stream: { a: '2' }, values: values(4) }] }, bounds), 'LOKI_PUSH_TOO_MANY_ENTRIES', 'JSON, 6 entries');
  refused(() => decodeJsonPush({ streams: [{}, {}, {}] }, bounds), 'LOKI_PUSH_TOO_MANY_STREAMS', 'JSON, 3 streams');
  const legacy = (n: number) => Array.from({ length: n }, () => ({ ts: '2026-01-01T00:00:00Z', line: 'x' }));
  refused(() => decodeLegacyJsonPush({ streams: [{ labels: '{a="1"}', entries: legacy(6) }] }, bounds), 'LOKI_PUSH_TOO_MANY_ENTRIES', 'legacy JSON, 6 entries');
  refused(() => decodeLegacyJsonPush({ streams: [{ labels: '{}' }, { labels: '{}' }, { labels: '{}' }] }, bounds), 'LOKI_PUSH_TOO_MANY_STREAMS', 'legacy JSON, 3 streams');
});

t.test("an entry's structured metadata pairs past the bound + 1 are counted, not decoded, whatever the format", async (t) => {
  const bounds = { ...BOUNDS, maxMetadataPairs: 2 };
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `k${i}`, value: `v${i}` }));
  const kept = [
    ['k0', 'v0'],
    ['k1', 'v1'],
    ['k2', 'v2'],
  ];
  const protobufEntry = (n: number) => decodeProtobufPush(encode({ streams: [{ labels: '{}', entries: [{ timestamp: { seconds: '1' }, line: 'x', structuredMetadata: pairs(n) }] }] }), bounds).streams[0]!.entries[0]!;
  t.same(protobufEntry(2).structuredMetadata, kept.slice(0, 2), 'protobuf: at the bound, all');
  t.equal(protobufEntry(2).structuredMetadataCount, undefined);
  t.same(protobufEntry(3).structuredMetadata, kept, 'protobuf: one over, all');
  t.same(protobufEntry(5).structuredMetadata, kept, 'protobuf: past it, the bound + 1');
  t.equal(protobufEntry(5).structuredMetadataCount, 5, 'and the count as sent');

  const json = (n: number) =>
    decodeJsonPush({ streams: [{ stream: {}, values: [['1', 'x', Object.fromEntries(pairs(n).map((p) => [p.name, p.value]))]] }] }, bounds).streams[0]!.entries[0]!;
  t.same(json(2).structuredMetadata, kept.slice(0, 2), 'JSON: at the bound, all');
  t.same(json(5).structuredMetadata, kept, 'JSON: past it, the bound + 1');
  t.equal(json(5).structuredMetadataCount, 5);

  const legacy = (n: number) =>
    decodeLegacyJsonPush({ streams: [{ labels: '{}', entries: [{ ts: '2024-01-01T00:00:00Z', line: 'x', structuredMetadata: pairs(n) }] }] }, bounds).streams[0]!.entries[0]!;
  t.same(legacy(3).structuredMetadata, kept, 'legacy JSON: one over, all');
  t.same(legacy(5).structuredMetadata, kept, 'legacy JSON: past it, the bound + 1');
  t.equal(legacy(5).structuredMetadataCount, 5);
});
