/**
 * OTLP/HTTP: `POST /v1/logs` at the batch sizes OpenTelemetry clients send, to a running service
 * with fsync on, by a load generator on the same machine. Loki is unreachable, so the figures are
 * the OTLP path alone: gzip, protobufjs decoding (or JSON and its conversion), the mapping to Loki
 * entries, masking, limit checks, encoding, WAL group commit. Beside `loki-push`, which measures
 * Loki's push API on the same lines.
 *
 * - The Collector's `otlphttp` exporter: protobuf + gzip (its default compression), 8,192 records
 *   a request (the batch processor's default), 4 clients.
 * - The SDK's protobuf exporter: 512 records a request (BatchLogRecordProcessor's default), no
 *   compression, 16 clients.
 * - The SDK's JSON exporter: the same 512 records as OTLP JSON, 16 clients.
 */
import { gzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import { ExportLogsServiceRequest } from '../src/sources/otlp/otlp-proto.js';
import { BENCH_TOKEN, startService } from './service-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

/** Bodies as services write them, as in loki-push.bench.ts, some with a secret to mask. */
function body(i: number): Record<string, unknown> {
  switch (i % 4) {
    case 0:
      return { stringValue: `GET /api/v1/orders/${i} 200 in ${i % 97} ms` };
    case 1:
      return {
        kvlistValue: {
          values: [
            { key: 'msg', value: { stringValue: 'order placed' } },
            { key: 'user', value: { kvlistValue: { values: [{ key: 'email', value: { stringValue: 'jane.doe@example.com' } }, { key: 'password', value: { stringValue: 'hunter2' } }] } } },
            { key: 'order_id', value: { intValue: String(i) } },
          ],
        },
      };
    case 2:
      return { stringValue: `charge ${i} retried for card 4111 1111 1111 1111 after timeout` };
    default:
      return { stringValue: `cache miss for key product:${i % 50}` };
  }
}

/** An export of `records` records from 4 pods, stamped a minute ago: OTLP's JSON shape. */
export function exportJson(records: number): Record<string, unknown> {
  const nowNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const resources = Array.from({ length: 4 }, (_, pod) => ({
    resource: {
      attributes: [
        { key: 'service.name', value: { stringValue: 'shop' } },
        { key: 'k8s.namespace.name', value: { stringValue: 'prod' } },
        { key: 'k8s.pod.name', value: { stringValue: `shop-${pod}` } },
        { key: 'host.name', value: { stringValue: `node-${pod}` } },
      ],
    },
    scopeLogs: [{ scope: { name: 'shop.http', version: '1.4.0' }, logRecords: [] as unknown[] }],
  }));
  for (let i = 0; i < records; i++) {
    resources[i % 4]!.scopeLogs[0]!.logRecords.push({
      timeUnixNano: String(nowNs + BigInt(i) * 1000n),
      observedTimeUnixNano: String(nowNs + BigInt(i) * 1000n + 500n),
      severityNumber: 9,
      severityText: 'INFO',
      body: body(i),
      attributes: [
        { key: 'http.route', value: { stringValue: '/api/v1/orders/:id' } },
        { key: 'http.response.status_code', value: { intValue: '200' } },
        { key: 'thread.name', value: { stringValue: 'worker-3' } },
      ],
      traceId: (BigInt(i) + 0x5b8efff798038103d269b633813fc60cn).toString(16).padStart(32, '0'),
      spanId: (BigInt(i) + 0xeee19b7ec3c1b174n).toString(16).padStart(16, '0'),
      flags: 1,
    });
  }
  return { resourceLogs: resources };
}

export function protobuf(json: Record<string, unknown>): Buffer {
  const copy = structuredClone(json) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<Record<string, unknown>> }> }> };
  for (const r of copy.resourceLogs) for (const s of r.scopeLogs) for (const l of s.logRecords) for (const id of ['traceId', 'spanId']) l[id] = Buffer.from(l[id] as string, 'hex');
  return Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(copy)).finish());
}

async function measure(url: string, headers: Record<string, string>, body: Buffer | string, connections: number) {
  const request = { url: `${url}/v1/logs`, method: 'POST', headers: { authorization: `Bearer ${BENCH_TOKEN}`, ...headers }, body };
  await autocannon({ ...request, connections, duration: 2 });
  return autocannon({ ...request, connections, duration: SECONDS, timeout: 60 });
}

export default {
  name: 'otlp',
  async run() {
    const svc = await startService({ lokiUrl: 'http://127.0.0.1:9', loki: { backoff_max_ms: 60_000 } });
    try {
      const collector = gzipSync(protobuf(exportJson(8192)));
      const big = await measure(svc.url, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, collector, 4);
      const sdk = protobuf(exportJson(512));
      const small = await measure(svc.url, { 'content-type': 'application/x-protobuf' }, sdk, 16);
      const json = JSON.stringify(exportJson(512));
      const js = await measure(svc.url, { 'content-type': 'application/json' }, json, 16);
      return {
        'Collector 8,192 protobuf+gzip: bytes per request': collector.length,
        'Collector 8,192 protobuf+gzip: records/s accepted (200)': (big['2xx'] * 8192) / big.duration,
        'Collector 8,192 protobuf+gzip: p50 latency ms': big.latency.p50,
        'Collector 8,192 protobuf+gzip: p99 latency ms': big.latency.p99,
        'Collector 8,192 protobuf+gzip: non-2xx answers': big.non2xx + big.errors,
        'SDK 512 protobuf: records/s accepted (200)': (small['2xx'] * 512) / small.duration,
        'SDK 512 protobuf: p50 latency ms': small.latency.p50,
        'SDK 512 protobuf: p99 latency ms': small.latency.p99,
        'SDK 512 protobuf: non-2xx answers': small.non2xx + small.errors,
        'SDK 512 JSON: records/s accepted (200)': (js['2xx'] * 512) / js.duration,
        'SDK 512 JSON: p50 latency ms': js.latency.p50,
        'SDK 512 JSON: p99 latency ms': js.latency.p99,
        'SDK 512 JSON: non-2xx answers': js.non2xx + js.errors,
        'service peak RSS MB': svc.peakRssBytes() / 2 ** 20,
      };
    } finally {
      await svc.stop();
    }
  },
};
