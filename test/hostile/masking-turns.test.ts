/**
 * What masking costs per byte is bounded (test/masking/linear-time.test.ts), but a request of
 * megabytes is still a second of it: 1,000 entries of 128 distinct metadata keys in Greek
 * letters (each key read as the Latin name it may imitate, sanitised, joined, cached), or a
 * push of lines full of `name=value` pairs. Done in one turn of the event loop, that second held
 * `/healthz`, `/metrics` and every other client. Preparing a request gives the loop back
 * between entries, so the service keeps answering while one client's request is masked.
 */
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { kv, protobufOf, record, str, type Json } from '../sources/otlp/otlp-helpers.js';
import { HOSTILE_TOKEN, nowSeconds, startHostileService } from './harness.js';

let serial = 0;
/** A key no cache has seen, in Greek letters: `αβ1kγδ`. */
function greekName(): string {
  return `αβ${(serial++).toString(36)}γδ`;
}

function ingestBody(): Buffer {
  const timestamp = new Date().toISOString();
  const entries = Array.from({ length: 1000 }, () => {
    const metadata: Record<string, string> = {};
    for (let k = 0; k < 128; k++) metadata[greekName()] = 'v';
    return { timestamp, level: 'INFO', message: 'm', service: 'svc', env: 'test', metadata };
  });
  return Buffer.from(JSON.stringify({ entries }));
}

/** Loki's JSON push: 1,200 lines of 250 `name=value` pairs each. */
function pushBody(): Buffer {
  const seconds = `${nowSeconds()}000000000`;
  const values = Array.from({ length: 1200 }, () => [seconds, Array.from({ length: 250 }, () => `${greekName()}=v`).join(' ')]);
  return Buffer.from(JSON.stringify({ streams: [{ stream: { app: 'shop' }, values }] }));
}

/** OTLP: 1,000 records of 120 attributes with distinct Greek keys. */
function otlpBody(): Buffer {
  const logRecords: Json[] = Array.from({ length: 1000 }, () => record({ attributes: Array.from({ length: 120 }, () => kv(greekName(), str('v'))) }));
  return protobufOf({ resourceLogs: [{ resource: { attributes: [kv('service.name', str('shop'))] }, scopeLogs: [{ logRecords }] }] });
}

async function post(url: string, path: string, body: Buffer, contentType: string): Promise<number> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    body: gzipSync(body),
    headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': contentType, 'content-encoding': 'gzip' },
  }).catch(() => null);
  await response?.arrayBuffer();
  return response?.status ?? 0;
}

t.test('masking megabytes of distinct non-Latin key names does not hold /healthz', async (t) => {
  const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });
  const ways = [
    { name: 'ingest', path: '/v1/logs:ingest', body: ingestBody(), contentType: 'application/json', accepted: 202 },
    { name: 'Loki push', path: '/loki/api/v1/push', body: pushBody(), contentType: 'application/json', accepted: 204 },
    { name: 'OTLP', path: '/v1/logs', body: otlpBody(), contentType: 'application/x-protobuf', accepted: 200 },
  ];
  for (const way of ways) {
    const run = await service.measure(() => post(service.url, way.path, way.body, way.contentType));
    t.equal(run.result, way.accepted, `${way.name}: the ${(way.body.length / 1e6).toFixed(1)} MB request is stored`);
    t.ok(run.alive, `${way.name}: the service is alive`);
    t.equal(run.healthFailures, 0, `${way.name}: every /healthz probe answered`);
    t.ok(run.healthMaxMs < 1000, `${way.name}: /healthz within 1 s while masking (${run.healthMaxMs.toFixed(0)} ms)`);
  }
});
