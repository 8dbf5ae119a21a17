/**
 * Hostile OTLP exports with a valid token, under `--max-old-space-size=160` as the StatefulSet
 * ships: millions of empty ResourceLogs or ScopeLogs in 5 MiB of protobuf, or `{}` in 5 MiB of
 * JSON, each gzipped to a few kB. What decoding would hold is weighed before anything is
 * decoded: each is refused with 413, the process lives, and /healthz answers within 1 s
 * throughout; the largest body of empty messages the budget takes is decoded within it.
 */
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { ErrorInfo, RpcStatus } from '../../src/sources/otlp/otlp-proto.js';
import { HOSTILE_TOKEN, mib, startHostileService, type Measured } from './harness.js';

/** The 5 MiB default of `limits.max_body_bytes`, less room for a header. */
const BODY_BYTES = 5 * 1024 * 1024 - 64;
/** Peak RSS a refused request may add: its body as sent and inflated, and the garbage of reading it. */
const RSS_REFUSED = 48 * 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly reason: string | undefined;
}

async function exportLogs(url: string, raw: Buffer, type: 'application/x-protobuf' | 'application/json'): Promise<Answer> {
  const response = await fetch(`${url}/v1/logs`, {
    method: 'POST',
    body: gzipSync(raw),
    headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': type, 'content-encoding': 'gzip' },
  });
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status === 200) return { status: 200, reason: undefined };
  if (type === 'application/json') return { status: response.status, reason: (JSON.parse(body.toString('utf8')) as { details: Array<{ reason?: string }> }).details[0]?.reason };
  const status = RpcStatus.toObject(RpcStatus.decode(body)) as { details?: Array<{ value: Uint8Array }> };
  const info = ErrorInfo.toObject(ErrorInfo.decode(status.details![0]!.value)) as { reason: string };
  return { status: response.status, reason: info.reason };
}

function lengthDelimited(field: number, content: Buffer): Buffer {
  const header = [(field << 3) | 2];
  for (let n = content.length; ; n = Math.floor(n / 128)) {
    if (n < 0x80) {
      header.push(n);
      break;
    }
    header.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from(header), content]);
}

function checkAlive(t: Test, run: Measured<Answer>, what: string): void {
  t.ok(run.alive, `${what}: the service is alive`);
  t.equal(run.healthFailures, 0, `${what}: /healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `${what}: /healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
}

/** Half the default: the largest body it takes decodes in a few hundred ms even on a busy machine. */
const BUDGET = 16 * 1024 * 1024;

const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'], config: { limits: { max_body_bytes_in_flight: BUDGET } } });

t.test('5 MiB of empty messages, a few kB gzipped, as protobuf and as JSON: 413 before they are decoded', async (t) => {
  const bodies: Array<[string, Buffer, 'application/x-protobuf' | 'application/json']> = [
    ['2.6 million empty ResourceLogs', Buffer.alloc(BODY_BYTES, Buffer.from([0x0a, 0x00])), 'application/x-protobuf'],
    ['2.6 million empty ScopeLogs in one resource', lengthDelimited(1, Buffer.alloc(BODY_BYTES - 16, Buffer.from([0x12, 0x00]))), 'application/x-protobuf'],
    ['1.7 million {} in resourceLogs', Buffer.from(`{"resourceLogs":[${'{},'.repeat(Math.floor(BODY_BYTES / 3) - 10)}{}]}`), 'application/json'],
  ];
  for (const [what, raw, type] of bodies) {
    t.ok(gzipSync(raw).length < 16 * 1024, `${what}: ${gzipSync(raw).length} bytes as sent`);
    const run = await service.measure(() => exportLogs(service.url, raw, type));
    t.same(run.result, { status: 413, reason: 'payload_too_large' }, what);
    checkAlive(t, run, what);
    t.ok(run.peakRssGrowthBytes < RSS_REFUSED, `${what}: peak RSS grew ${mib(run.peakRssGrowthBytes)}`);
    t.equal(run.walGrowthBytes, 0, `${what}: nothing is written`);
  }
});

t.test('the most empty messages the body budget takes are decoded within it, /healthz answering', async (t) => {
  // 160,000 empty ResourceLogs: 320 kB decoded, charged about 15 MiB of the 16 MiB.
  const raw = Buffer.alloc(320_000, Buffer.from([0x0a, 0x00]));
  const run = await service.measure(() => exportLogs(service.url, raw, 'application/x-protobuf'));
  t.same(run.result, { status: 200, reason: undefined });
  checkAlive(t, run, '160,000 empty resources');
  t.ok(run.peakRssGrowthBytes < 2 * BUDGET + RSS_REFUSED, `peak RSS grew ${mib(run.peakRssGrowthBytes)} for a ${mib(BUDGET)} budget`);
  t.match(await (await fetch(`${service.url}/metrics`)).text(), /^http_body_bytes_in_flight 0$/m, 'and gave it all back');
});
