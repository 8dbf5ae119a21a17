/**
 * Loki push encoding: 5,000-entry batches of entries shaped like the ingest samples (labels from
 * service/env/level, masked structured metadata), protobuf + snappy against JSON + gzip; and
 * snappy's synchronous against its thread-pool call on the same bodies, the measurement behind
 * `encodePush` compressing off the event loop.
 */
import { performance } from 'node:perf_hooks';
import { compress, compressSync, uncompressSync } from 'snappy';
import { encodeEntry } from '../src/loki/entry-codec.js';
import { formatLabels } from '../src/loki/entry.js';
import { encodePush } from '../src/loki/push-request.js';
import type { PushEncoding, ShippedEntry } from '../src/loki/push-request.js';

const BATCH_ENTRIES = 5000;
const WARMUP_BATCHES = 3;
const MEASURED_BATCHES = 20;

const SERVICES = ['search', 'user-service', 'auth-gateway', 'billing', 'checkout'];
const ENVS = ['prod', 'staging'];
const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const MESSAGES = ['Request completed', 'Upstream timeout after 3000ms', 'Cache miss for key user:%d', 'Payment authorised for order O-%d'];

function samplePayloads(count: number, startSecond: number): ShippedEntry[] {
  const payloads: ShippedEntry[] = [];
  for (let i = 0; i < count; i++) {
    const labels = formatLabels({ service: SERVICES[i % SERVICES.length]!, env: ENVS[i % ENVS.length]!, level: LEVELS[i % LEVELS.length]! });
    payloads.push({
      labels,
      entry: encodeEntry({
        labels,
        seconds: startSecond + Math.floor(i / 10),
        nanos: (i % 10) * 100_000_000 + 123,
        line: MESSAGES[i % MESSAGES.length]!.replace('%d', String(1000 + i)),
        structuredMetadata: [
          ['order_id', `O-${1000 + i}`],
          ['amount', String((i * 7919) % 30000)],
          ['region', i % 2 === 0 ? 'eu-west-1' : 'us-east-1'],
          ['http_method', i % 3 === 0 ? 'GET' : 'POST'],
          ['http_path', '/v1/orders'],
          ['http_status', String([200, 400, 500][i % 3])],
          ['http_headers_authorization', 'Beare****'],
          ['user_email', `j******${i % 10}@example.com`],
          ['user_password', '****'],
          ['user_id', String(i)],
        ],
      }),
    });
  }
  return payloads;
}

async function timeBatches(run: (batch: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARMUP_BATCHES; i++) await run(i);
  const started = performance.now();
  for (let i = 0; i < MEASURED_BATCHES; i++) await run(i);
  return (performance.now() - started) / MEASURED_BATCHES;
}

export default {
  name: 'loki-encoding',
  async run(): Promise<Record<string, number | string>> {
    const batches = Array.from({ length: WARMUP_BATCHES + MEASURED_BATCHES }, (_, i) => samplePayloads(BATCH_ENTRIES, 1758715200 + i * 1000));
    const results: Record<string, number | string> = { batch_entries: BATCH_ENTRIES };

    for (const encoding of ['protobuf', 'json'] as const satisfies readonly PushEncoding[]) {
      const sample = await encodePush(batches[0]!, encoding);
      const msPerBatch = await timeBatches((i) => encodePush(batches[i % batches.length]!, encoding));
      const round = (n: number, digits: number) => Number(n.toFixed(digits));
      results[`${encoding}_ms_per_batch`] = round(msPerBatch, 2);
      results[`${encoding}_entries_per_s`] = Math.round((BATCH_ENTRIES / msPerBatch) * 1000);
      results[`${encoding}_raw_mb_per_s`] = round(sample.rawBytes / 1e6 / (msPerBatch / 1000), 1);
      results[`${encoding}_raw_bytes`] = sample.rawBytes;
      results[`${encoding}_body_bytes`] = sample.body.length;
      results[`${encoding}_compression_ratio`] = round(sample.rawBytes / sample.body.length, 2);
    }

    const raws = await Promise.all(batches.map(async (b) => uncompressSync((await encodePush(b, 'protobuf')).body, { asBuffer: true }) as Buffer));
    results.snappy_sync_ms_per_batch = Number((await timeBatches(async (i) => compressSync(raws[i]!))).toFixed(3));
    results.snappy_async_ms_per_batch = Number((await timeBatches((i) => compress(raws[i]!))).toFixed(3));
    return results;
  },
};
