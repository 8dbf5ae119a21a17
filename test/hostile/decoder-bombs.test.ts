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
