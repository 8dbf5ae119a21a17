/**
 * Hostile pushes on Loki's push API, with a valid token: entry and stream counts past their
 * bounds, a block of zeros, forbidden names, a byte-order mark, and valid pushes generated at
 * the edges of every bound. Each is answered (204 or a clear 4xx), the process lives, its RSS
 * and WAL grow by a bounded multiple of what the push decodes to, and /healthz answers within
 * 1 s throughout.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { compressSync } from 'snappy';
import t, { type Test } from 'tap';
import { fuzzSettings } from '../support/fuzz-settings.js';
import { HOSTILE_TOKEN, mib, nowSeconds, protobufPush, startHostileService, type HostileService, type Measured, type PushStreamSpec } from './harness.js';

const fuzz = fuzzSettings({ seed: 4242, runs: 16 });
/** Peak RSS a push may add, per decoded byte, over a fixed allowance for the garbage of parsing. */
const RSS_PER_DECODED_BYTE = 40;
const RSS_ALLOWANCE = 48 * 1024 * 1024;
/** WAL bytes a push may add per decoded byte: payloads repeat the labels of their stream. */
const WAL_PER_DECODED_BYTE = 8;

interface Answer {
  readonly status: number;
  readonly error: string | undefined;
}

async function push(service: HostileService, body: Buffer, headers: Record<string, string> = { 'content-type': 'application/x-protobuf' }, path = '/loki/api/v1/push'): Promise<Answer> {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, ...headers } });
  const text = await response.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: response.status, error };
}

function entries(count: number, line = (i: number) => `line ${i}`): PushStreamSpec['entries'] {
  const seconds = nowSeconds();
  return Array.from({ length: count }, (_, i) => ({ seconds, nanos: i, line: line(i) }));
}

function checkBounded(t: Test, run: Measured<Answer>, decodedBytes: number, what: string): void {
  t.ok(run.alive, `${what}: the service is alive`);
  t.equal(run.healthFailures, 0, `${what}: /healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `${what}: /healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  t.ok(run.peakRssGrowthBytes < RSS_ALLOWANCE + RSS_PER_DECODED_BYTE * decodedBytes, `${what}: peak RSS grew ${mib(run.peakRssGrowthBytes)} for ${mib(decodedBytes)} decoded`);
  t.ok(run.walGrowthBytes <= WAL_PER_DECODED_BYTE * decodedBytes + 4096, `${what}: the WAL grew ${run.walGrowthBytes} bytes for ${decodedBytes} decoded`);
}

const MAX_ENTRIES = 20_000;
const MAX_STREAMS = 50;
const service = await startHostileService(t, {
  config: { loki_push: { max_entries_per_push: MAX_ENTRIES, max_streams_per_push: MAX_STREAMS } },
});

t.test('130,000 entries in one push (about 650 kB of snappy) are refused with 413 before they are decoded', async (t) => {
  const raw = protobufPush([{ labels: '{job="flood"}', entries: entries(130_000) }]);
  const body = compressSync(raw);
  t.ok(body.length < 1024 * 1024, `${mib(body.length)} as sent`);
  const run = await service.measure(() => push(service, body));
  t.same(run.result, { status: 413, error: 'too_many_entries' });
  checkBounded(t, run, raw.length, '130,000 entries');
  t.equal(run.walGrowthBytes, 0, 'nothing is written');
});

t.test('the same as gzipped JSON, and as legacy JSON: 413 too', async (t) => {
  const ns = `${nowSeconds()}000000000`;
  const json = JSON.stringify({ streams: [{ stream: { job: 'flood' }, values: Array.from({ length: 60_000 }, (_, i) => [ns, `l${i}`]) }] });
  const run = await service.measure(() => push(service, gzipSync(json), { 'content-type': 'application/json', 'content-encoding': 'gzip' }));
  t.same(run.result, { status: 413, error: 'too_many_entries' });
  checkBounded(t, run, json.length, 'JSON');
  const legacy = JSON.stringify({ streams: [{ labels: '{job="flood"}', entries: Array.from({ length: MAX_ENTRIES + 1 }, () => ({ ts: new Date().toISOString(), line: 'x' })) }] });
  t.same(await push(service, Buffer.from(legacy), { 'content-type': 'application/json' }, '/api/prom/push'), { status: 413, error: 'too_many_entries' });
});

t.test('one entry or one stream past a bound is refused; at the bound it is taken whole', async (t) => {
  const atBound = protobufPush([{ labels: '{job="edge"}', entries: entries(MAX_ENTRIES) }]);
  const run = await service.measure(() => push(service, compressSync(atBound)));
  t.same(run.result, { status: 204, error: undefined }, `${MAX_ENTRIES} entries`);
  checkBounded(t, run, atBound.length, 'at the bound');
  t.same(await push(service, compressSync(protobufPush([{ labels: '{job="edge"}', entries: entries(MAX_ENTRIES + 1) }]))), { status: 413, error: 'too_many_entries' });
  const streams = (n: number) => Array.from({ length: n }, (_, i) => ({ labels: `{job="s${i}"}`, entries: entries(1) }));
  t.same(await push(service, compressSync(protobufPush(streams(MAX_STREAMS)))), { status: 204, error: undefined }, `${MAX_STREAMS} streams`);
  t.same(await push(service, compressSync(protobufPush(streams(MAX_STREAMS + 1)))), { status: 413, error: 'too_many_streams' });
});

t.test('a snappy block of 5 MiB of zeros is no push: 400, nothing stored', async (t) => {
  const run = await service.measure(() => push(service, compressSync(Buffer.alloc(5 * 1024 * 1024 - 1024))));
  t.same(run.result, { status: 400, error: 'invalid_push_body' });
  checkBounded(t, run, 5 * 1024 * 1024, 'zeros');
  t.equal(run.walGrowthBytes, 0);
});

t.test('__proto__, constructor, prototype as structured metadata names: 400, as on ingest', async (t) => {
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    const body = compressSync(protobufPush([{ labels: '{job="a"}', entries: [{ seconds: nowSeconds(), line: 'x', metadata: [[name, 'polluted']] }] }]));
    t.same(await push(service, body), { status: 400, error: 'validation_failed' }, name);
    const json = JSON.stringify({ streams: [{ stream: { job: 'a' }, values: [[`${nowSeconds()}000000000`, 'x', { [name]: 'polluted' }]] }] });
    t.same(await push(service, Buffer.from(json), { 'content-type': 'application/json' }), { status: 400, error: 'validation_failed' }, `${name} in JSON`);
  }
});

t.test('a byte-order mark before a JSON body is ignored on push, as on ingest', async (t) => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const json = JSON.stringify({ streams: [{ stream: { job: 'bom' }, values: [[`${nowSeconds()}000000000`, 'x']] }] });
  t.same(await push(service, Buffer.concat([bom, Buffer.from(json)]), { 'content-type': 'application/json' }), { status: 204, error: undefined });
  const ingest = JSON.stringify({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message: 'x', service: 'bom', env: 'test' }] });
  const answer = await fetch(`${service.url}/v1/logs:ingest`, {
    method: 'POST',
    body: Buffer.concat([bom, Buffer.from(ingest)]),
    headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json' },
  });
  t.equal(answer.status, 202);
});

t.test('valid pushes at the edges of the bounds: within them taken whole, past them refused whole', async (t) => {
  const edge = (bound: number) => fc.constantFrom(bound - 1, bound, bound + 1);
  const pushCase = fc.record({
    streams: fc.oneof(fc.constant(1), edge(MAX_STREAMS)),
    entries: fc.oneof(fc.integer({ min: 0, max: 50 }), edge(MAX_ENTRIES)),
    labels: edge(15),
    lineBytes: fc.oneof(fc.integer({ min: 1, max: 200 }), edge(256_000)),
    json: fc.boolean(),
  });
  const cases = fc.sample(pushCase, { seed: fuzz.seed, numRuns: fuzz.runs });
  for (const c of cases) {
    const perStream = Math.ceil(c.entries / c.streams);
    // Long lines with few entries: the body stays under max_body_bytes, so the bounds decide.
    const lineBytes = c.entries > 16 ? Math.min(c.lineBytes, 64) : c.lineBytes;
    const line = 'x'.repeat(lineBytes);
    const labelText = (s: number) => `{${Array.from({ length: c.labels }, (_, l) => `l${l}="v${s}"`).join(', ')}}`;
    const specs = Array.from({ length: c.streams }, (_, s) => ({ labels: labelText(s), entries: entries(Math.max(0, Math.min(perStream, c.entries - s * perStream)), () => line) }));
    const total = specs.reduce((n, s) => n + s.entries.length, 0);
    const raw = c.json
      ? Buffer.from(JSON.stringify({ streams: specs.map((s) => ({ stream: Object.fromEntries(Array.from({ length: c.labels }, (_, l) => [`l${l}`, s.labels.match(/v\d+/)![0]])), values: s.entries.map((e) => [`${e.seconds}${String(e.nanos).padStart(9, '0')}`, e.line]) })) }))
      : protobufPush(specs);
    const fits = c.streams <= MAX_STREAMS && total <= MAX_ENTRIES && c.labels <= 15 && lineBytes <= 256_000 && raw.length <= 5 * 1024 * 1024;
    const walBefore = service.walBytes();
    const run = await service.measure(() => (c.json ? push(service, gzipSync(raw), { 'content-type': 'application/json', 'content-encoding': 'gzip' }) : push(service, compressSync(raw))));
    const what = `${JSON.stringify(c)} (${fuzz.replay})`;
    if (fits) t.same(run.result, { status: 204, error: undefined }, what);
    else t.ok(run.result.status === 413 || (run.result.status === 400 && run.result.error === 'validation_failed'), `${what}: refused, ${run.result.status} ${run.result.error}`);
    if (run.result.status !== 204) t.equal(service.walBytes(), walBefore, `${what}: nothing written`);
    checkBounded(t, run, raw.length, what);
  }
});
