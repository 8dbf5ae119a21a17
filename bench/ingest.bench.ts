/**
 * Ingest: batches of the shared sample (100 entries, ~46 KB of JSON) POSTed to a running
 * service with fsync on, by a load generator on the same machine. Loki is unreachable, so the
 * figures are the ingest path alone: HTTP, validation, masking, encoding, WAL group commit.
 */
import autocannon from 'autocannon';
import { compileMaskingPolicy } from '../src/masking/policy.js';
import type { IngestEntry } from '../src/pipeline/types.js';
import { maskEntry } from '../src/sources/native/mask-entry.js';
import { HEADER_BYTES } from '../src/wal/segment-format.js';
import { testConfigForBench } from './bench-config.js';
import { pacedLoad } from './paced-load.js';
import { BENCH_TOKEN, sampleBody, startService } from './service-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const HALF_TARGET_REQUESTS_PER_SECOND = 250; // 25,000 entries/s: half the 50,000 target

function maskedJsonBytesPerEntry(body: string): number {
  const { masking } = testConfigForBench();
  const policy = compileMaskingPolicy(masking);
  const entries = (JSON.parse(body) as { entries: IngestEntry[] }).entries;
  return entries.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(maskEntry(e, policy))), 0) / entries.length;
}

export default {
  name: 'ingest',
  async run() {
    const { body, entries } = sampleBody();
    const svc = await startService({ lokiUrl: 'http://127.0.0.1:9', loki: { backoff_max_ms: 60_000 } });
    try {
      const request = {
        url: `${svc.url}/v1/logs:ingest`,
        method: 'POST',
        headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
        body,
      };
      await autocannon({ ...request, connections: 16, duration: 2 });
      const max = await autocannon({ ...request, connections: 32, duration: SECONDS });
      const half = await pacedLoad({
        url: svc.url,
        path: '/v1/logs:ingest',
        headers: request.headers,
        body,
        ratePerSecond: HALF_TARGET_REQUESTS_PER_SECOND,
        seconds: SECONDS,
        okStatus: 202,
      });
      const metrics = await svc.metrics();
      const accepted = Number(/^logs_ingested_total\{token="bench"\} (\d+)/m.exec(metrics)?.[1] ?? NaN);
      const segments = Number(/^wal_segments_active\{token="bench"\} (\d+)/m.exec(metrics)?.[1] ?? 1);
      const walBytesPerEntry = (svc.walBytes() - segments * HEADER_BYTES) / accepted;
      const maskedJson = maskedJsonBytesPerEntry(body);
      return {
        'max: entries/s accepted (202)': (max['2xx'] * entries) / max.duration,
        'max: MB/s of JSON accepted': (max['2xx'] * Buffer.byteLength(body)) / max.duration / 1e6,
        'max: p50 latency ms': max.latency.p50,
        'max: p99 latency ms': max.latency.p99,
        'max: non-2xx answers': max.non2xx + max.errors,
        'half rate: entries/s offered': HALF_TARGET_REQUESTS_PER_SECOND * entries,
        'half rate: entries/s accepted': (half.ok * entries) / SECONDS,
        'half rate: failed requests': half.failed,
        'half rate: p50 latency ms': half.p50Ms,
        'half rate: p99 latency ms': half.p99Ms,
        'half rate: max latency ms': half.maxMs,
        'service peak RSS MB': svc.peakRssBytes() / 2 ** 20,
        'WAL bytes per entry': walBytesPerEntry,
        'masked JSON bytes per entry': maskedJson,
        'WAL bytes / masked JSON bytes': walBytesPerEntry / maskedJson,
      };
    } finally {
      await svc.stop();
    }
  },
};
