import { gzipSync } from 'node:zlib';
import t from 'tap';
import type { Test } from 'tap';
import { createLokiStandIn, lokiAnswers, referenceProtobufPush } from './loki-stand-in.js';
import type { LokiStandIn } from './loki-stand-in.js';

const STREAM = '{env="prod", service="api"}';

function pushProtobuf(loki: LokiStandIn, body: Buffer, tenant?: string, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-protobuf' };
  if (tenant !== undefined) headers['x-scope-orgid'] = tenant;
  return fetch(`${loki.url}/loki/api/v1/push`, { method: 'POST', headers, body, ...(signal ? { signal } : {}) });
}

function pushJson(loki: LokiStandIn, message: unknown, gzip: boolean, tenant?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (gzip) headers['content-encoding'] = 'gzip';
  if (tenant !== undefined) headers['x-scope-orgid'] = tenant;
  const raw = Buffer.from(JSON.stringify(message));
  return fetch(`${loki.url}/loki/api/v1/push`, { method: 'POST', headers, body: gzip ? gzipSync(raw) : raw });
}

const oneEntry = (line: string, tsNs = '1758715200000000001') => referenceProtobufPush([{ labels: STREAM, entries: [{ tsNs, line }] }]);

async function standIn(t: Test, options?: Parameters<typeof createLokiStandIn>[0]): Promise<LokiStandIn> {
  const loki = createLokiStandIn(options);
  await loki.start();
  t.teardown(() => loki.close());
  return loki;
}

t.test('decodes a protobufjs-built push per tenant, answering 204 like Loki', async (t) => {
  const loki = await standIn(t);
  const body = referenceProtobufPush([
    {
      labels: STREAM,
      entries: [
        { tsNs: '1758715200123456789', line: 'héllo wörld ✓ 日本', structuredMetadata: { trace_id: 'abc', user: 'u-1' } },
        { tsNs: '1758715201000000000', line: 'second' },
      ],
    },
    { labels: '{env="dev", service="worker"}', entries: [{ tsNs: '7', line: 'near the epoch' }] },
  ]);
  const res = await pushProtobuf(loki, body, 'team-a');
  t.equal(res.status, 204);
  t.same(loki.received('team-a'), [
    { tenant: 'team-a', labels: { env: 'prod', service: 'api' }, tsNs: '1758715200123456789', line: 'héllo wörld ✓ 日本', structuredMetadata: { trace_id: 'abc', user: 'u-1' } },
    { tenant: 'team-a', labels: { env: 'prod', service: 'api' }, tsNs: '1758715201000000000', line: 'second', structuredMetadata: {} },
    { tenant: 'team-a', labels: { env: 'dev', service: 'worker' }, tsNs: '7', line: 'near the epoch', structuredMetadata: {} },
  ]);
  t.same(loki.received('team-b'), []);
  t.match(loki.pushes, [{ tenant: 'team-a', encoding: 'protobuf', status: 204, stored: 3, bodyBytes: body.length }]);
});

t.test('decodes JSON pushes, gzip or plain, with and without structured metadata', async (t) => {
  const loki = await standIn(t);
  const message = {
    streams: [{ stream: { service: 'api', env: 'prod' }, values: [['1758715200123456789', 'a "quoted" line'], ['1758715200123456790', 'with metadata', { k: 'v' }]] }],
  };
  t.equal((await pushJson(loki, message, true)).status, 204);
  t.equal((await pushJson(loki, { streams: [{ stream: { service: 'x' }, values: [['5', 'plain']] }] }, false, 't1')).status, 204);
  t.same(loki.received(null), [
    { tenant: null, labels: { service: 'api', env: 'prod' }, tsNs: '1758715200123456789', line: 'a "quoted" line', structuredMetadata: {} },
    { tenant: null, labels: { service: 'api', env: 'prod' }, tsNs: '1758715200123456790', line: 'with metadata', structuredMetadata: { k: 'v' } },
  ]);
  t.same(loki.received('t1'), [{ tenant: 't1', labels: { service: 'x' }, tsNs: '5', line: 'plain', structuredMetadata: {} }]);
  t.match(loki.pushes, [{ encoding: 'json', contentEncoding: 'gzip' }, { encoding: 'json', contentEncoding: null }]);
});

t.test('drops an entry equal to a stored one as a duplicate, as Loki does, and counts it', async (t) => {
  const loki = await standIn(t);
  await pushProtobuf(loki, oneEntry('same'));
  const again = await pushProtobuf(loki, oneEntry('same'));
  t.equal(again.status, 204, 'a duplicate is not an error');
  await pushProtobuf(loki, oneEntry('same'), 'other-tenant');
  await pushProtobuf(loki, oneEntry('same', '1758715200000000002'));
  t.equal(loki.received().length, 3, 'another tenant or timestamp is not a duplicate');
  t.equal(loki.duplicatesReceived, 1);
  t.match(loki.pushes[1], { stored: 0, duplicates: 1 });

  const keepAll = await standIn(t, { dedupe: false });
  await pushProtobuf(keepAll, oneEntry('same'));
  await pushProtobuf(keepAll, oneEntry('same'));
  t.equal(keepAll.received().length, 2);
});

t.test('answers scripted faults in order, storing nothing, then accepts again', async (t) => {
  const loki = await standIn(t);
  loki.answerNext([lokiAnswers.serverError(), lokiAnswers.rateLimited('fake', 7), lokiAnswers.timestampTooOld(STREAM), lokiAnswers.unexpected2xx()]);
  const first = await pushProtobuf(loki, oneEntry('x'));
  t.equal(first.status, 500);
  const second = await pushProtobuf(loki, oneEntry('x'));
  t.equal(second.status, 429);
  t.equal(second.headers.get('retry-after'), '7');
  t.match(await second.text(), /^Ingestion rate limit exceeded for user fake/);
  const third = await pushProtobuf(loki, oneEntry('x'));
  t.equal(third.status, 400);
  t.equal(await third.text(), `entry for stream '${STREAM}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2025-09-17T12:00:00Z\n`);
  t.equal((await pushProtobuf(loki, oneEntry('x'))).status, 260);
  t.same(loki.received(), []);
  t.equal((await pushProtobuf(loki, oneEntry('x'))).status, 204);
  t.same(loki.pushes.map((p) => p.status), [500, 429, 400, 260, 204]);
});

t.test('throttles one tenant with a standing 429 while the others pass', async (t) => {
  const loki = await standIn(t);
  loki.setStandingAnswer(lokiAnswers.rateLimited('noisy'), { tenant: 'noisy' });
  t.equal((await pushProtobuf(loki, oneEntry('a'), 'noisy')).status, 429);
  t.equal((await pushProtobuf(loki, oneEntry('b'), 'quiet')).status, 204);
  t.equal((await pushProtobuf(loki, oneEntry('c'), 'noisy')).status, 429);
  loki.answerNext(lokiAnswers.unavailable(), { tenant: 'quiet' });
  t.equal((await pushProtobuf(loki, oneEntry('d'), 'quiet')).status, 503);
  t.equal((await pushProtobuf(loki, oneEntry('e'), 'quiet')).status, 204);
  loki.setStandingAnswer(null, { tenant: 'noisy' });
  t.equal((await pushProtobuf(loki, oneEntry('f'), 'noisy')).status, 204);
  t.same(loki.received().map((e) => `${e.tenant}:${e.line}`), ['quiet:b', 'quiet:e', 'noisy:f']);
});

t.test('answers 413 with Loki-style text to a body over the size limit', async (t) => {
  const loki = await standIn(t);
  const big = referenceProtobufPush([{ labels: STREAM, entries: [{ tsNs: '1', line: 'x'.repeat(2000) }] }]);
  loki.setMaxBodyBytes(big.length - 1);
  const res = await pushProtobuf(loki, big);
  t.equal(res.status, 413);
  t.match(await res.text(), `request body too large: message size too large than max (${big.length} vs ${big.length - 1})`);
  t.equal((await pushProtobuf(loki, oneEntry('small'))).status, 204);
});

t.test('answers 400 to what Loki cannot parse', async (t) => {
  const loki = await standIn(t);
  t.equal((await pushProtobuf(loki, Buffer.from('not snappy at all'))).status, 400);
  const badLabels = await pushProtobuf(loki, referenceProtobufPush([{ labels: 'service=api', entries: [{ tsNs: '1', line: 'x' }] }]));
  t.equal(badLabels.status, 400);
  t.match(await badLabels.text(), /couldn't parse labels/);
  const numericTs = await pushJson(loki, { streams: [{ stream: { a: 'b' }, values: [[1, 'x']] }] }, false);
  t.equal(numericTs.status, 400);
  t.same(loki.received(), []);
});

t.test('resets the connection or hangs on command; close() ends hung requests', async (t) => {
  const loki = createLokiStandIn();
  await loki.start();
  loki.answerNext([lokiAnswers.reset(), lokiAnswers.hang()]);
  await t.rejects(pushProtobuf(loki, oneEntry('x')), 'a reset connection fails the request');
  const hung = pushProtobuf(loki, oneEntry('y'));
  await loki.waitFor(() => loki.pushes.length === 2);
  t.same(loki.pushes.map((p) => p.status), [null, null]);
  await loki.close();
  await t.rejects(hung, 'the hung request ends when the stand-in closes');
});

t.test('delays an accepted push on command', async (t) => {
  const loki = await standIn(t);
  loki.answerNext(lokiAnswers.accept(50));
  t.equal((await pushProtobuf(loki, oneEntry('slow'))).status, 204);
  t.equal(loki.received().length, 1);
});

t.test('requires a tenant when told to, like multi-tenant Loki', async (t) => {
  const loki = await standIn(t, { requireTenant: true });
  const res = await pushProtobuf(loki, oneEntry('x'));
  t.equal(res.status, 401);
  t.equal(await res.text(), 'no org id\n');
  t.equal((await pushProtobuf(loki, oneEntry('x'), 'a')).status, 204);
});

t.test('/ready answers ready, 503 not ready, or 404, and counts the checks', async (t) => {
  const loki = await standIn(t);
  const ready = await fetch(`${loki.url}/ready`);
  t.equal(ready.status, 200);
  t.equal(await ready.text(), 'ready\n');
  loki.setReady('not-ready');
  const notReady = await fetch(`${loki.url}/ready`);
  t.equal(notReady.status, 503);
  t.match(await notReady.text(), /^Ingester not ready/);
  loki.setReady('missing');
  t.equal((await fetch(`${loki.url}/ready`)).status, 404);
  t.equal((await fetch(`${loki.url}/`)).status, 200);
  t.equal(loki.readyChecks, 3);
});

t.test('waitFor resolves on a count or a predicate and rejects with what it has on timeout', async (t) => {
  const loki = await standIn(t);
  const waiting = loki.waitFor(2);
  await pushProtobuf(loki, oneEntry('a'));
  await pushProtobuf(loki, oneEntry('b'));
  await waiting;
  await loki.waitFor((s) => s.received().some((e) => e.line === 'b'));
  await t.rejects(loki.waitFor(3, 50), /waited 50 ms for 3 entries; have 2 entries from 2 pushes/);
});

t.test('reset() forgets entries, pushes and faults', async (t) => {
  const loki = await standIn(t);
  await pushProtobuf(loki, oneEntry('a'));
  loki.setStandingAnswer(lokiAnswers.serverError());
  loki.setReady('not-ready');
  loki.reset();
  t.same(loki.received(), []);
  t.same(loki.pushes, []);
  t.equal((await pushProtobuf(loki, oneEntry('a'))).status, 204, 'the same entry is not a duplicate after reset');
  t.equal((await fetch(`${loki.url}/ready`)).status, 200);
});
