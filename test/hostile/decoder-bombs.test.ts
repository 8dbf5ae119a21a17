/**
 * Small requests that decode into far more than their bytes, with a valid token, under the heap
 * limit the StatefulSet ships (`--max-old-space-size=160`): each is refused at its bound (and
 * taken at the bound itself), the process lives, its peak RSS grows by at most a stated multiple
 * of what the request decodes to, and /healthz answers within 1 s throughout.
 */
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

async function post(service: HostileService, path: string, body: Buffer | string, contentType: string): Promise<Answer> {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': contentType } });
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
