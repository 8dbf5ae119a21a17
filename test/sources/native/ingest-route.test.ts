import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { jsonParseCost } from '../../../src/http/json-parse-cost.js';
import { decodeEntryAdapter } from '../../../src/loki/entry-codec.js';
import { APP_TOKEN, SAMPLES, batch, entry, send, startServer } from '../../support/http-server.js';

t.test('202 only once the entries are in the WAL', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/v1/logs:ingest', {
    token: APP_TOKEN,
    body: JSON.stringify({ entries: [entry({ message: 'first' }), entry({ message: 'second', metadata: { password: 'hunter2' } })] }),
  });
  t.equal(answer.status, 202);
  t.same(answer.json, { accepted: 2, request_id: answer.headers['x-request-id'] });

  const wal = server.wal.token('app');
  const { records } = await wal.read(wal.cursor, { maxRecords: 10, maxBytes: 1 << 20 });
  t.same(
    records.map((record) => decodeEntryAdapter(record.entry, record.labels).line),
    ['first', 'second'],
    'both durable, in order',
  );
  t.notOk(records.some((record) => record.entry.includes('hunter2')), 'masked before the disk');
  t.match((await send(server, '/metrics')).text, /^logs_ingested_total\{token="app"\} 2$/m);
});


t.test('the good samples of the original service are accepted, plain and gzipped', async (t) => {
  const server = await startServer(t, { config: { limits: { max_past_seconds: 100 * 365 * 86400 } } });
  for (const name of ['ingest-small.json', 'ingest-100.json']) {
    const text = readFileSync(new URL(name, SAMPLES));
    const count = (JSON.parse(text.toString('utf8')) as { entries: unknown[] }).entries.length;
    t.match((await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: text })).json, { accepted: count }, name);
    const gzipped = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: gzipSync(text), headers: { 'content-encoding': 'gzip' } });
    t.match(gzipped.json, { accepted: count }, `${name}, gzipped`);
  }
});

t.test('400 validation_failed lists every invalid entry, and nothing is written', async (t) => {
  const server = await startServer(t);
  const answer = await send(server, '/v1/logs:ingest', {
    token: APP_TOKEN,
    body: JSON.stringify({ entries: [entry(), entry({ level: 'LOUD' }), entry(), entry({ service: 'bad service' })] }),
  });
  t.equal(answer.status, 400);
  t.match(answer.json, {
    error: 'validation_failed',
    message: /2 of 4/,
    request_id: answer.headers['x-request-id'],
    details: [
      { index: 1, pointer: '/entries/1/level', reason: String },
      { index: 3, pointer: '/entries/3/service', reason: String },
    ],
  });
  t.equal(server.wal.token('app').stats().lastSeq, 0);
  t.match((await send(server, '/metrics')).text, /^logs_rejected_total\{token="app",reason="validation_failed"\} 4$/m);
});

t.test('the bad samples of the original service are refused with 400', async (t) => {
  const bad = new URL('bad/', SAMPLES);
  const server = await startServer(t, { config: { limits: { max_past_seconds: 100 * 365 * 86400 } } });
  for (const name of readdirSync(bad)) {
    const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: readFileSync(new URL(name, bad)) });
    t.equal(answer.status, 400, name);
    t.match(answer.json, { error: /^(invalid_json|validation_failed)$/, message: String, request_id: String }, name);
  }
  t.equal(server.wal.token('app').stats().lastSeq, 0);
});

t.test('413 too_many_entries over limits.max_entries', async (t) => {
  const server = await startServer(t, { config: { limits: { max_entries: 3 } } });
  const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(4) });
  t.equal(answer.status, 413);
  t.match(answer.json, { error: 'too_many_entries', message: /4 entries; at most 3/ });
});

t.test('what JSON.parse would hold is charged to the body budget first: a body of empty objects that fits exactly is parsed, one object more is 413', async (t) => {
  const objects = (n: number) => Buffer.from(JSON.stringify({ entries: [entry({ metadata: { a: Array(n).fill({}) } })] }));
  const charged = (body: Buffer) => body.length + jsonParseCost(body);
  const atBound = objects(1000);
  const budget = charged(atBound);
  const server = await startServer(t, { config: { limits: { max_body_bytes: 8192, max_body_bytes_in_flight: budget, max_body_bytes_in_flight_per_key: budget } } });
  const parsed = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: atBound });
  t.equal(parsed.status, 400, 'at the bound: parsed, and refused for its leaf values');
  t.match(JSON.stringify(parsed.json), 'has 1000 leaf values');
  const over = objects(1001);
  const refused = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: over });
  t.equal(refused.status, 413, 'one object more');
  t.match(refused.json, { error: 'payload_too_large', message: `Parsed, the JSON body would hold ${charged(over)} bytes of memory, more than limits.max_body_bytes_in_flight_per_key (${budget})` });
  const gzipped = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: gzipSync(objects(2000)), headers: { 'content-encoding': 'gzip' } });
  t.equal(gzipped.status, 413, 'gzipped: what it inflates to');
  t.match((await send(server, '/metrics')).text, /^http_body_bytes_in_flight 0$/m, 'everything charged is given back');
  t.equal(server.wal.token('app').stats().lastSeq, 0, 'nothing is written');
});

t.test('an ordinary batch is charged its bytes, its parse and 512 bytes an entry, and taken at that budget', async (t) => {
  const body = readFileSync(new URL('ingest-100.json', SAMPLES));
  const budget = body.length + jsonParseCost(body) + 100 * 512;
  t.ok(budget < 8 * body.length, `charged ${(budget / body.length).toFixed(1)}× its bytes`);
  const server = await startServer(t, { config: { limits: { max_past_seconds: 100 * 365 * 86400, max_body_bytes_in_flight: budget, max_body_bytes_in_flight_per_key: budget } } });
  t.match((await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body })).json, { accepted: 100 });
});

t.test("a batch is taken at its key's share of the body budget; one byte less and it is 413, whatever the whole budget has left", async (t) => {
  const body = readFileSync(new URL('ingest-100.json', SAMPLES));
  const charge = body.length + jsonParseCost(body) + 100 * 512;
  const limits = { max_past_seconds: 100 * 365 * 86400, max_body_bytes_in_flight: 4 * charge };
  const atShare = await startServer(t, { config: { limits: { ...limits, max_body_bytes_in_flight_per_key: charge } } });
  t.match((await send(atShare, '/v1/logs:ingest', { token: APP_TOKEN, body })).json, { accepted: 100 });
  const under = await startServer(t, { config: { limits: { ...limits, max_body_bytes_in_flight_per_key: charge - 1 } } });
  const refused = await send(under, '/v1/logs:ingest', { token: APP_TOKEN, body });
  t.equal(refused.status, 413, 'a retry would never fit: not 503');
  t.match(refused.json, { error: 'payload_too_large', message: `Decoded, the request would hold ${charge} bytes of memory, more than limits.max_body_bytes_in_flight_per_key (${charge - 1})` });
  t.equal(under.wal.token('app').stats().lastSeq, 0, 'nothing is written');
  t.match((await send(under, '/metrics')).text, /^http_body_bytes_in_flight 0$/m, 'everything charged is given back');
});

t.test('429 wal_quota_exceeded with Retry-After when the key WAL is full', async (t) => {
  const server = await startServer(t, { quotaBytes: 1024 });
  let answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1) });
  for (let i = 0; answer.status === 202 && i < 100; i++) answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(5) });
  t.equal(answer.status, 429);
  t.ok(Number(answer.headers['retry-after']) >= 1);
  t.match(answer.json, { error: 'wal_quota_exceeded', request_id: answer.headers['x-request-id'] });
  // Refused by the WAL after the body was prepared (and released): all 5 entries are counted.
  t.match((await send(server, '/metrics')).text, /^logs_rejected_total\{token="app",reason="wal_quota_exceeded"\} 5$/m);
});

t.test('503 disk_reserve_reached with Retry-After below the disk reserve', async (t) => {
  const server = await startServer(t, { diskReservePercent: 100 });
  const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1) });
  t.equal(answer.status, 503);
  t.ok(Number(answer.headers['retry-after']) >= 1);
  t.match(answer.json, { error: 'disk_reserve_reached', message: /under the reserve of 100%/, request_id: answer.headers['x-request-id'] });
});

t.test('503 wal_unavailable when the WAL is closed', async (t) => {
  const server = await startServer(t);
  await server.wal.close();
  const answer = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: batch(1) });
  t.equal(answer.status, 503);
  t.ok(Number(answer.headers['retry-after']) >= 1);
  t.match(answer.json, { error: 'wal_unavailable', request_id: answer.headers['x-request-id'] });
  t.match(
    server.logLines().find((line) => line.level === 40 && line.err !== undefined),
    { request_id: answer.headers['x-request-id'], err: { code: 'LOGSTACK_ERR_WAL_NOT_OPEN' } },
    'the cause is in the logs under the request id',
  );
});
