/**
 * Loki push: `POST /loki/api/v1/push` at the batch sizes Loki clients send, to a running service
 * with fsync on, by a load generator on the same machine. Loki is unreachable, so the figures are
 * the push path alone: snappy, protobuf decoding, label and limit checks, masking, encoding, WAL
 * group commit.
 *
 * - Alloy (`loki.write`, batch_size 1 MiB) and Promtail (batchsize 1 MiB): protobuf + snappy
 *   pushes of 1 MiB of lines over 20 streams, each client with one push in flight; 4 clients.
 * - pino-loki: JSON pushes of 20 entries, one stream each (as it sends them), 16 clients.
 */
import autocannon from 'autocannon';
import { encodeEntry } from '../src/loki/entry-codec.js';
import { formatLabels } from '../src/loki/entry.js';
import { encodePush, type ShippedEntry } from '../src/loki/push-request.js';
import { BENCH_TOKEN, startService } from './service-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const MIB = 1024 * 1024;

/** Lines as applications write them: text, logfmt and JSON, some with a secret to mask. */
function line(i: number): string {
  switch (i % 4) {
    case 0:
      return `level=info ts=2025-09-24T12:00:00.${String(i % 1000).padStart(3, '0')}Z caller=handler.go:112 msg="GET /api/v1/orders/${i} 200" duration_ms=${i % 97} user_id=${i * 7}`;
    case 1:
      return JSON.stringify({ level: 30, time: 1758715200000 + i, pid: 4242, hostname: 'node-1', req: { id: `r-${i}`, method: 'POST', url: '/checkout' }, user: { email: 'jane.doe@example.com', password: 'hunter2' }, msg: 'order placed' });
    case 2:
      return `2025-09-24 12:00:00,${String(i % 1000).padStart(3, '0')} WARN [payments] charge ${i} retried for card 4111 1111 1111 1111 after timeout`;
    default:
      return `10.0.${i % 255}.${(i * 3) % 255} - - [24/Sep/2025:12:00:00 +0000] "GET /static/app.${i % 50}.js HTTP/1.1" 200 ${1000 + (i % 9000)} "-" "Mozilla/5.0"`;
  }
}

/**
 * A protobuf + snappy push of about `lineBytes` of lines over `streams` streams, stamped a minute
 * ago: encoded by the forwarder's encoder, which writes what Loki clients write.
 */
async function protobufPush(lineBytes: number, streams: number): Promise<{ body: Buffer; entries: number; rawBytes: number }> {
  const nowNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const payloads: ShippedEntry[] = [];
  let rawBytes = 0;
  for (let i = 0; rawBytes < lineBytes; i++) {
    const ns = nowNs + BigInt(i) * 1000n;
    const text = line(i);
    rawBytes += Buffer.byteLength(text);
    const pod = `shop-${i % streams}`;
    const labels = formatLabels({ job: 'app', namespace: 'shop', pod, container: 'app', filename: `/var/log/pods/${pod}/app/0.log` });
    payloads.push({ labels, entry: encodeEntry({ seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n), labels, line: text, structuredMetadata: [] }) });
  }
  const push = await encodePush(payloads, 'protobuf');
  return { body: push.body, entries: push.entries, rawBytes };
}

/** A pino-loki push: one stream per log, JSON lines, `entries` of them. */
function pinoPush(entries: number): { body: string; rawBytes: number } {
  const nowMs = Date.now() - 60_000;
  let rawBytes = 0;
  const streams = Array.from({ length: entries }, (_, i) => {
    const text = line(4 * i + 1);
    rawBytes += Buffer.byteLength(text);
    return { stream: { level: 'info', hostname: 'node-1', app: 'shop' }, values: [[`${nowMs + i}000000`, text]] };
  });
  return { body: JSON.stringify({ streams }), rawBytes };
}

async function measure(url: string, contentType: string, body: Buffer | string, connections: number) {
  const request = {
    url: `${url}/loki/api/v1/push`,
    method: 'POST',
    headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': contentType },
    body,
  };
  await autocannon({ ...request, connections, duration: 2 });
  return autocannon({ ...request, connections, duration: SECONDS, timeout: 60 });
}

export default {
  name: 'loki-push',
  async run() {
    const svc = await startService({ lokiUrl: 'http://127.0.0.1:9', loki: { backoff_max_ms: 60_000 } });
    try {
      const mib = await protobufPush(MIB, 20);
      const big = await measure(svc.url, 'application/x-protobuf', mib.body, 4);
      const pino = pinoPush(20);
      const small = await measure(svc.url, 'application/json', pino.body, 16);
      return {
        '1 MiB protobuf: entries per push': mib.entries,
        '1 MiB protobuf: snappy bytes per push': mib.body.length,
        '1 MiB protobuf: entries/s accepted (204)': (big['2xx'] * mib.entries) / big.duration,
        '1 MiB protobuf: MB/s of lines accepted': (big['2xx'] * mib.rawBytes) / big.duration / 1e6,
        '1 MiB protobuf: p50 latency ms': big.latency.p50,
        '1 MiB protobuf: p99 latency ms': big.latency.p99,
        '1 MiB protobuf: non-2xx answers': big.non2xx + big.errors,
        'pino-loki 20-entry JSON: entries/s accepted (204)': (small['2xx'] * 20) / small.duration,
        'pino-loki 20-entry JSON: MB/s of lines accepted': (small['2xx'] * pino.rawBytes) / small.duration / 1e6,
        'pino-loki 20-entry JSON: p50 latency ms': small.latency.p50,
        'pino-loki 20-entry JSON: p99 latency ms': small.latency.p99,
        'pino-loki 20-entry JSON: non-2xx answers': small.non2xx + small.errors,
        'service peak RSS MB': svc.peakRssBytes() / 2 ** 20,
      };
    } finally {
      await svc.stop();
    }
  },
};
