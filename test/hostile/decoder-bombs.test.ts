/**
 * Small requests that decode into far more than their bytes, with a valid token, under the heap
 * limit the StatefulSet ships (`--max-old-space-size=160`): each is refused at its bound (and
 * taken at the bound itself), the process lives, its peak RSS grows by at most a stated multiple
 * of what the request decodes to, and /healthz answers within 1 s throughout.
 */
import { gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';
import t, { type Test } from 'tap';
import { HOSTILE_TOKEN, mib, nowSeconds, protobufPush, startHostileService, type HostileService, type Measured } from './harness.js';

/** Peak RSS a refused request may add: a fixed allowance for parsing's garbage, plus this many times its decoded bytes. */
const RSS_ALLOWANCE = 32 * 1024 * 1024;
const RSS_PER_DECODED_BYTE = 4;

interface Answer {
  readonly status: number;
  readonly error: string | undefined;
  readonly details: unknown[];
  /** Bytes of the answer's body. */
  readonly bytes: number;
}

async function post(service: HostileService, path: string, body: Buffer | string, contentType: string, contentEncoding?: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': contentType };
  if (contentEncoding !== undefined) headers['content-encoding'] = contentEncoding;
  const response = await fetch(`${service.url}${path}`, { method: 'POST', body, headers });
  const text = await response.text();
  let parsed: { error?: string; details?: unknown[] } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // 204: no body.
  }
  return { status: response.status, error: parsed.error, details: parsed.details ?? [], bytes: Buffer.byteLength(text) };
}

function checkBounded(t: Test, run: Measured<unknown>, decodedBytes: number, what: string): void {
  t.ok(run.alive, `${what}: the service is alive`);
  t.equal(run.healthFailures, 0, `${what}: /healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `${what}: /healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  t.ok(
    run.peakRssGrowthBytes < RSS_ALLOWANCE + RSS_PER_DECODED_BYTE * decodedBytes,
    `${what}: peak RSS grew ${mib(run.peakRssGrowthBytes)} for ${mib(decodedBytes)} decoded`,
  );
  t.equal(run.walGrowthBytes, 0, `${what}: nothing is written`);
}

const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });
const MAX_METADATA_KEYS = 128;

t.test('a pushed entry with millions of empty structured metadata pairs is refused without decoding them', async (t) => {
  const seconds = nowSeconds();
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => [`k${i}`, 'v'] as const);
  const atBound = await post(service, '/loki/api/v1/push', compressSync(protobufPush([{ labels: '{job="sm"}', entries: [{ seconds, line: 'at', metadata: pairs(MAX_METADATA_KEYS) }] }])), 'application/x-protobuf');
  t.equal(atBound.status, 204, `${MAX_METADATA_KEYS} pairs: taken`);
  const over = await post(service, '/loki/api/v1/push', compressSync(protobufPush([{ labels: '{job="sm"}', entries: [{ seconds, line: 'over', metadata: pairs(MAX_METADATA_KEYS + 1) }] }])), 'application/x-protobuf');
  t.equal(over.status, 400, `${MAX_METADATA_KEYS + 1} pairs: refused`);
  t.match(JSON.stringify(over.details), `has ${MAX_METADATA_KEYS + 1} structured metadata pairs`);

  // 2.6 million `1a 00` (an empty pair, field 3) in one entry: 5.2 MB decoded, about 250 kB of snappy.
  const PAIRS = 2_600_000;
  const timestamp = Buffer.concat([Buffer.from([0x08]), varint(seconds)]);
  const entry = Buffer.concat([field(1, timestamp), field(2, Buffer.from('x')), Buffer.alloc(PAIRS * 2).fill(Buffer.from([0x1a, 0x00]))]);
  const raw = field(1, Buffer.concat([field(1, Buffer.from('{job="sm"}')), field(2, entry)]));
  const body = compressSync(raw);
  const run = await service.measure(() => post(service, '/loki/api/v1/push', body, 'application/x-protobuf'));
  t.equal(run.result.status, 400, `${mib(body.length)} of snappy, ${mib(raw.length)} decoded: refused`);
  t.equal(run.result.error, 'validation_failed');
  t.match(JSON.stringify(run.result.details), `has ${PAIRS} structured metadata pairs; at most ${MAX_METADATA_KEYS}`);
  checkBounded(t, run, raw.length, `${PAIRS} empty pairs`);
});

t.test('a push of entries of 128 structured metadata pairs each, millions of pairs in all, is refused before they are decoded', async (t) => {
  const seconds = nowSeconds();
  const timestamp = Buffer.concat([Buffer.from([0x08]), varint(seconds)]);
  /** A stream of entries, each of 128 copies of `pair`, about `decodedBytes` in all. */
  const push = (pair: Buffer, decodedBytes: number): Buffer => {
    const entry = field(2, Buffer.concat([field(1, timestamp), field(2, Buffer.from('x')), Buffer.concat(Array.from({ length: MAX_METADATA_KEYS }, () => pair))]));
    return field(1, Buffer.concat([field(1, Buffer.from('{job="sm"}')), Buffer.concat(Array.from({ length: Math.floor(decodedBytes / entry.length) }, () => entry))]));
  };
  const shapes = [
    // `1a 00`, an empty pair: 2.4 million; decoded whole they held more than the StatefulSet's heap.
    { what: 'empty pairs', pair: Buffer.from([0x1a, 0x00]) },
    // `aa` = "": 860,000 pairs Loki would take.
    { what: 'pairs named aa', pair: field(3, field(1, Buffer.from('aa'))) },
  ];
  for (const { what, pair } of shapes) {
    const raw = push(pair, 5_200_000);
    const body = compressSync(raw);
    const run = await service.measure(() => post(service, '/loki/api/v1/push', body, 'application/x-protobuf'));
    t.equal(run.result.status, 413, `${what}: ${mib(body.length)} of snappy, ${mib(raw.length)} decoded: refused`);
    t.equal(run.result.error, 'payload_too_large');
    checkBounded(t, run, raw.length, what);
  }
  // 1,000 entries of 128 pairs: 128,000 pairs, 15 MB charged, are taken.
  const fits = await post(service, '/loki/api/v1/push', compressSync(push(field(3, field(1, Buffer.from('aa'))), 1000 * (MAX_METADATA_KEYS * 6 + 12))), 'application/x-protobuf');
  t.equal(fits.status, 204, '128,000 pairs: taken');
});

/** The longest label text `loki_push`'s default limits let through unread: 16 labels of 1,024 + 4 × 2,048 + 16 characters, and the braces. */
const MAX_LABEL_TEXT = 147_714;

t.test('label text of millions of escapes is refused before it is read, as protobuf and as legacy JSON', async (t) => {
  const seconds = nowSeconds();
  const pushLabels = (labels: string) => post(service, '/loki/api/v1/push', compressSync(protobufPush([{ labels, entries: [{ seconds, line: 'x' }] }])), 'application/x-protobuf');
  // The longest labels Loki accepts: 15 and service_name, of the longest name, every value byte an escape.
  const value = '\\x41'.repeat(2048);
  const longest = `{${[...Array.from({ length: 15 }, (_, i) => `l${String(i).padStart(1023, '0')}="${value}"`), `service_name="${value}"`].join(', ')}}`;
  t.equal((await pushLabels(longest)).status, 204, `the longest valid labels (${longest.length} characters): taken`);
  const atBound = await pushLabels(`{a="${'x'.repeat(MAX_LABEL_TEXT - 6)}"}`);
  t.equal(atBound.status, 400, `${MAX_LABEL_TEXT} characters: read, and refused for its value`);
  t.match(JSON.stringify(atBound.details), 'has a value longer than 2048 bytes');
  const over = await pushLabels(`{a="${'x'.repeat(MAX_LABEL_TEXT - 5)}"}`);
  t.equal(over.status, 400, `${MAX_LABEL_TEXT + 1} characters: refused unread`);
  t.match(JSON.stringify(over.details), `has labels of ${MAX_LABEL_TEXT + 1} characters; at most ${MAX_LABEL_TEXT}`);

  // 2.6 million `\n` escapes: 5.2 MB decoded, 0.2 MB of snappy.
  const bombLabels = `{a="${'\\n'.repeat(2_600_000)}"}`;
  const raw = protobufPush([{ labels: bombLabels, entries: [{ seconds, line: 'x' }] }]);
  const run = await service.measure(() => post(service, '/loki/api/v1/push', compressSync(raw), 'application/x-protobuf'));
  t.equal(run.result.status, 400, `protobuf, ${mib(raw.length)} decoded: refused`);
  t.match(JSON.stringify(run.result.details), 'has labels of 5200006 characters');
  checkBounded(t, run, raw.length, 'protobuf, 2.6 million escapes');

  // 1.7 million in legacy JSON on /api/prom/push: 5 kB of gzip.
  const json = JSON.stringify({ streams: [{ labels: `{a="${'\\n'.repeat(1_700_000)}"}`, entries: [{ ts: new Date().toISOString(), line: 'x' }] }] });
  const legacy = await service.measure(() => post(service, '/api/prom/push', gzipSync(json), 'application/json', 'gzip'));
  t.equal(legacy.result.status, 400, `legacy JSON, ${mib(json.length)} decoded: refused`);
  t.match(JSON.stringify(legacy.result.details), 'has labels of 3400006 characters');
  checkBounded(t, legacy, json.length, 'legacy JSON, 1.7 million escapes');
});

/**
 * Parsing JSON makes up to about 10 times its bytes of objects, whatever is done with them after
 * (the body budget counts bytes): what a refused ingest body may add on top of its own size.
 */
const RSS_PER_PARSED_BYTE = 16;

t.test('an ingest entry of 30,000 or 120,000 unknown fields is answered with 100 problems, not all of them (15 MB for 1 MB)', async (t) => {
  const entry = (fields: number) => {
    const extra = Array.from({ length: fields }, (_, i) => `"${i.toString(36)}":0`).join(',');
    return `{"timestamp":"${new Date().toISOString()}","level":"INFO","message":"x","service":"s","env":"e"${fields > 0 ? `,${extra}` : ''}}`;
  };
  const ingest = (body: string) => post(service, '/v1/logs:ingest', body, 'application/json');
  const atBound = await ingest(`{"entries":[${entry(100)}]}`);
  t.equal(atBound.status, 400);
  t.equal(atBound.details.length, 100, '100 unknown fields: 100 problems listed');
  const over = await ingest(`{"entries":[${entry(101)}]}`);
  t.equal(over.details.length, 100, '101: 100 listed');

  // 30,000 fields (250 kB): judged as every attack here.
  const small = `{"entries":[${entry(30_000)}]}`;
  const run = await service.measure(() => ingest(small));
  t.equal(run.result.status, 400, `${mib(small.length)}: refused`);
  t.equal(run.result.error, 'validation_failed');
  t.equal(run.result.details.length, 100);
  t.ok(run.result.bytes < 32 * 1024, `the answer is ${run.result.bytes} bytes`);
  t.ok(run.alive, 'the service is alive');
  t.equal(run.healthFailures, 0, `/healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  t.ok(run.peakRssGrowthBytes < RSS_ALLOWANCE + RSS_PER_PARSED_BYTE * small.length, `peak RSS grew ${mib(run.peakRssGrowthBytes)} for ${mib(small.length)} parsed`);
  t.equal(run.walGrowthBytes, 0, 'nothing is written');

  // 120,000 (1 MB): the answer and the memory. Parsing 1 MB of JSON into 120,000 properties
  // blocks the event loop for tens of ms on an idle machine, over 1 s on a busy one: the body
  // budget counts bytes, not what parsing makes (not bounded here).
  const large = `{"entries":[${entry(120_000)}]}`;
  const flood = await service.measure(() => ingest(large));
  t.equal(flood.result.status, 400, `${mib(large.length)}: refused`);
  t.equal(flood.result.details.length, 100);
  t.ok(flood.result.bytes < 32 * 1024, `the answer is ${flood.result.bytes} bytes`);
  t.ok(flood.alive, 'the service is alive');
  t.ok(flood.peakRssGrowthBytes < RSS_ALLOWANCE + RSS_PER_PARSED_BYTE * large.length, `peak RSS grew ${mib(flood.peakRssGrowthBytes)} for ${mib(large.length)} parsed`);
  t.equal(flood.walGrowthBytes, 0, 'nothing is written');
});

function field(number: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | 2]), varint(payload.length), payload]);
}

function varint(value: number): Buffer {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}
