/**
 * Memory under mixed hostile load: what the process holds, not only its V8 heap, while clients
 * send every kind of valid body near the limits at once, and after they stop.
 *
 * The service runs as the container image and the StatefulSet run it (`--max-old-space-size=160`,
 * glibc's mmap threshold fixed at 128 KiB), with a Loki that takes everything, so the delivery
 * thread works too. For MEM_LOAD_SECONDS (60) `MEM_CLIENTS` (3) clients of each kind below send
 * one body after another on their own connection, again at once when refused (503 server_busy
 * included), then nothing for MEM_IDLE_SECONDS (30):
 * - Loki push, protobuf+snappy: 45,000 short lines with secrets (what a body's entries cost);
 * - the same push deflated as well (Content-Encoding deflate, then snappy);
 * - Loki push, protobuf+snappy: 20 lines of 250 kB, 5 MB decoded from ~0.3 MB sent;
 * - Loki push, JSON+gzip: 20,000 lines, 4.7 MB decoded;
 * - ingest, JSON+gzip: 13 messages of 255 kB of JSON text to mask;
 * - OTLP, protobuf+gzip and JSON: 9,000 records each (the JSON 4.8 MB).
 * RSS (VmRSS, and RssAnon: without the node binary's mapped pages, which the kernel can reclaim)
 * and the V8 heap and external memory of /metrics are sampled each second. The bench's environment is the service's too (`MALLOC_MMAP_THRESHOLD_`,
 * `MALLOC_ARENA_MAX`, `UV_THREADPOOL_SIZE`, `NODE_OPTIONS` added to the heap limit), to compare
 * allocator and thread settings.
 *
 * The WAL is on /dev/shm when there is one (a tmpfs: fsync costs nothing, so the load is what
 * the CPUs allow, and the run leaves no gigabytes on disk), with a 1 GiB quota.
 */
import { readFileSync } from 'node:fs';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { encodeEntry } from '../src/loki/entry-codec.js';
import { formatLabels } from '../src/loki/entry.js';
import { encodePush, type ShippedEntry } from '../src/loki/push-request.js';
import { startLokiSink } from './loki-sink.js';
import { exportJson, protobuf } from './otlp.bench.js';
import { BENCH_TOKEN, startService, type ServiceProcess } from './service-process.js';

const LOAD_SECONDS = Number(process.env.MEM_LOAD_SECONDS ?? 60);
const IDLE_SECONDS = Number(process.env.MEM_IDLE_SECONDS ?? 30);
const CLIENTS = Number(process.env.MEM_CLIENTS ?? 3);
const MIB = 2 ** 20;

interface Body {
  readonly name: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** A protobuf+snappy push of one stream, one line per entry, stamped a minute ago. */
async function lokiProtobuf(lines: readonly string[]): Promise<Buffer> {
  const nowNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const labels = formatLabels({ job: 'app', namespace: 'shop', pod: 'shop-0' });
  const payloads: ShippedEntry[] = lines.map((line, i) => {
    const ns = nowNs + BigInt(i);
    return { labels, entry: encodeEntry({ seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n), labels, line, structuredMetadata: [] }) };
  });
  return (await encodePush(payloads, 'protobuf')).body;
}

function lokiJson(lines: readonly string[]): Buffer {
  const nowNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  const values = lines.map((line, i) => [String(nowNs + BigInt(i)), line]);
  return Buffer.from(JSON.stringify({ streams: [{ stream: { job: 'app', namespace: 'shop' }, values }] }));
}

function ingestJson(messages: number, messageBytes: number): Buffer {
  const timestamp = new Date(Date.now() - 60_000).toISOString();
  const message = `[${'"a",'.repeat(messageBytes / 4)}"a"]`.slice(0, messageBytes - 1) + ']';
  const entries = Array.from({ length: messages }, () => ({ timestamp, level: 'INFO', message, service: 'shop', env: 'prod' }));
  return Buffer.from(JSON.stringify({ entries }));
}

async function bodies(): Promise<Body[]> {
  const protobufType = { 'content-type': 'application/x-protobuf' };
  const shortLines = await lokiProtobuf(Array.from({ length: 45_000 }, (_, i) => `password=hunter${i % 10}`));
  const longLine = (i: number): string => `${`user=${i} token=abc${i} `.padEnd(250_000, 'x')}`;
  const otlp = exportJson(9_000);
  return [
    { name: 'loki protobuf, 45,000 entries', path: '/loki/api/v1/push', headers: protobufType, body: shortLines },
    { name: 'loki protobuf+deflate, 45,000 entries', path: '/loki/api/v1/push', headers: { ...protobufType, 'content-encoding': 'deflate' }, body: deflateRawSync(shortLines) },
    { name: 'loki protobuf, 20 lines of 250 kB', path: '/loki/api/v1/push', headers: protobufType, body: await lokiProtobuf(Array.from({ length: 20 }, (_, i) => longLine(i))) },
    { name: 'loki JSON+gzip, 20,000 entries', path: '/loki/api/v1/push', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(lokiJson(Array.from({ length: 20_000 }, (_, i) => `level=info msg="GET /api/v1/orders/${i} 200" password=hunter2 ${'x'.repeat(160)}`))) },
    { name: 'ingest JSON+gzip, 13 x 255 kB', path: '/v1/logs:ingest', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(ingestJson(13, 255_000)) },
    { name: 'OTLP protobuf+gzip, 9,000 records', path: '/v1/logs', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, body: gzipSync(protobuf(otlp)) },
    { name: 'OTLP JSON, 9,000 records (4.8 MB)', path: '/v1/logs', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(otlp)) },
  ];
}

interface Sample {
  readonly at: number;
  readonly rss: number;
  readonly anonRss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
}

function gauge(metrics: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : NaN;
}

async function sample(svc: ServiceProcess, start: number): Promise<Sample> {
  const metrics = await svc.metrics();
  return {
    at: (performance.now() - start) / 1000,
    rss: svc.rssBytes(),
    anonRss: svc.anonRssBytes(),
    heapTotal: gauge(metrics, 'nodejs_heap_size_total_bytes'),
    heapUsed: gauge(metrics, 'nodejs_heap_size_used_bytes'),
    external: gauge(metrics, 'nodejs_external_memory_bytes'),
  };
}

function mib(bytes: number): number {
  return Number((bytes / MIB).toFixed(1));
}

function peak(samples: readonly Sample[], key: keyof Sample): number {
  return mib(Math.max(...samples.map((s) => s[key])));
}

export default {
  name: 'memory-mixed',
  async run() {
    const sink = await startLokiSink();
    const shm = (() => {
      try {
        return readFileSync('/proc/mounts', 'utf8').includes(' /dev/shm tmpfs ') ? '/dev/shm' : undefined;
      } catch {
        return undefined;
      }
    })();
    const svc = await startService({
      lokiUrl: sink.url,
      wal: { token_wal_quota_bytes: 1024 * MIB },
      parentDir: shm,
      // The container's environment (Dockerfile, StatefulSet); the bench's own overrides it.
      env: { MALLOC_MMAP_THRESHOLD_: '131072', ...process.env, NODE_OPTIONS: `--max-old-space-size=160 ${process.env.NODE_OPTIONS ?? ''}`.trim() },
    });
    const dispatcher = new Agent({ connections: null, keepAliveTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
    try {
      const kinds = await bodies();
      const idleRss = svc.rssBytes();
      const answers = new Map(kinds.map((kind) => [kind.name, {} as Record<string, number>]));
      const start = performance.now();
      const loadEnd = start + LOAD_SECONDS * 1000;
      const samples: Sample[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push(await sample(svc, start));
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const client = async (kind: Body): Promise<void> => {
        while (performance.now() < loadEnd) {
          let key: string;
          try {
            const res = await request(`${svc.url}${kind.path}`, { method: 'POST', dispatcher, body: kind.body, headers: { authorization: `Bearer ${BENCH_TOKEN}`, ...kind.headers } });
            await res.body.dump();
            key = String(res.statusCode);
          } catch (err) {
            key = (err as NodeJS.ErrnoException).code ?? 'error';
          }
          const counts = answers.get(kind.name)!;
          counts[key] = (counts[key] ?? 0) + 1;
        }
      };
      await Promise.all(kinds.flatMap((kind) => Array.from({ length: CLIENTS }, () => client(kind))));
      const loadSamples = samples.length;
      const rssAtLoadEnd = svc.rssBytes();
      const peakDuringLoad = svc.peakRssBytes();
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
      sampling = false;
      await sampler;
      const during = samples.slice(0, loadSamples);
      const after = samples.slice(loadSamples);
      const last = samples.at(-1)!;
      return {
        'load seconds / clients': `${LOAD_SECONDS} / ${kinds.length * CLIENTS}`,
        ...Object.fromEntries(
          [...answers].map(([name, counts]) => [
            `answers: ${name}`,
            Object.entries(counts)
              .map(([status, n]) => `${status}: ${n}`)
              .join(', '),
          ]),
        ),
        'entries delivered to Loki': sink.entries,
        'idle RSS before the load, MiB': mib(idleRss),
        'peak RSS (VmHWM), MiB': mib(peakDuringLoad),
        'peak anonymous RSS (sampled), MiB': peak(during, 'anonRss'),
        'peak heap total / used / external, MiB': `${peak(during, 'heapTotal')} / ${peak(during, 'heapUsed')} / ${peak(during, 'external')}`,
        'RSS when the load ended, MiB': mib(rssAtLoadEnd),
        [`RSS ${IDLE_SECONDS} s after, MiB`]: mib(last.rss),
        [`heap total / used / external ${IDLE_SECONDS} s after, MiB`]: `${mib(last.heapTotal)} / ${mib(last.heapUsed)} / ${mib(last.external)}`,
        'least RSS after the load, MiB': after.length > 0 ? mib(Math.min(...after.map((s) => s.rss))) : NaN,
      };
    } finally {
      await dispatcher.close();
      await svc.stop();
      await sink.close();
    }
  },
};
