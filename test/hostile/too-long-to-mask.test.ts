/**
 * A request is prepared in turns that give the event loop back between entries, but one string
 * is masked in one call: a 5 MB `Cookie:` header of distinct cookies, as a line, a label value,
 * a metadata value or an OTLP body or attribute, was seconds of masking before its size was
 * checked, and held `/healthz` all that time. A string no masking could bring under its limit is
 * refused before it is masked.
 */
import t from 'tap';
import { cookieHeader } from '../support/masked-texts.js';
import { exportRequest, kv, protobufOf, record, str } from '../sources/otlp/otlp-helpers.js';
import { HOSTILE_TOKEN, nowSeconds, startHostileService } from './harness.js';

const LONG = cookieHeader(5_000_000);

async function post(url: string, path: string, body: Buffer, contentType: string): Promise<number> {
  const response = await fetch(`${url}${path}`, { method: 'POST', body, headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': contentType } }).catch(() => null);
  await response?.arrayBuffer();
  return response?.status ?? 0;
}

t.test('one 5 MB string on each way in is refused without holding /healthz', async (t) => {
  const service = await startHostileService(t);
  const ns = `${nowSeconds()}000000000`;
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const ingest = (fields: Record<string, unknown>) => json({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message: 'm', service: 's', env: 'e', ...fields }] });
  const ways = [
    { name: 'Loki push line', path: '/loki/api/v1/push', body: json({ streams: [{ stream: { app: 'a' }, values: [[ns, LONG]] }] }), type: 'application/json', status: 400 },
    { name: 'Loki push label value', path: '/loki/api/v1/push', body: json({ streams: [{ stream: { app: LONG }, values: [[ns, 'x']] }] }), type: 'application/json', status: 400 },
    { name: 'Loki push structured metadata', path: '/loki/api/v1/push', body: json({ streams: [{ stream: { app: 'a' }, values: [[ns, 'x', { c: LONG }]] }] }), type: 'application/json', status: 400 },
    { name: 'ingest metadata', path: '/v1/logs:ingest', body: ingest({ metadata: { c: LONG } }), type: 'application/json', status: 400 },
    { name: 'OTLP body', path: '/v1/logs', body: protobufOf(exportRequest([record({ body: str(LONG) })])), type: 'application/x-protobuf', status: 200 },
    { name: 'OTLP attribute', path: '/v1/logs', body: protobufOf(exportRequest([record({ attributes: [kv('c', str(LONG))] })])), type: 'application/x-protobuf', status: 200 },
    { name: 'OTLP resource', path: '/v1/logs', body: protobufOf(exportRequest([record()], [kv('service.name', str('s')), kv('c', str(LONG))])), type: 'application/x-protobuf', status: 200 },
  ];
  for (const way of ways) {
    const run = await service.measure(() => post(service.url, way.path, way.body, way.type));
    t.equal(run.result, way.status, `${way.name}: refused`);
    t.equal(run.healthFailures, 0, `${way.name}: every /healthz probe answered`);
    t.ok(run.healthMaxMs < 1000, `${way.name}: /healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  }
});
