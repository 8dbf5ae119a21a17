/**
 * The Loki client against a real HTTP server speaking Loki's protocol: what arrives, over real
 * sockets. Its handling of each kind of answer is scripted with msw in loki-client-answers.test.ts.
 */
import { Value } from '@sinclair/typebox/value';
import t from 'tap';
import type { Test } from 'tap';
import { ConfigSchema } from '../../src/config/schema.js';
import { ERRORS } from '../../src/errors.js';
import { createLokiClient } from '../../src/forwarder/loki-client.js';
import type { LokiClient, LokiConfig } from '../../src/forwarder/loki-client.js';
import { encodeEntryPayload } from '../../src/loki/entry-codec.js';
import { formatLabels } from '../../src/loki/entry.js';
import { encodePush } from '../../src/loki/push-request.js';
import type { EncodedPush } from '../../src/loki/push-request.js';
import { createLokiStandIn, lokiAnswers } from '../support/loki-stand-in.js';
import type { LokiStandIn } from '../support/loki-stand-in.js';

const STREAM = formatLabels({ service: 'api', env: 'prod', level: 'INFO' });

function lokiConfig(overrides: Partial<LokiConfig>): LokiConfig {
  return Value.Default(ConfigSchema.properties.loki, structuredClone(overrides)) as LokiConfig;
}

async function setup(t: Test, overrides: Partial<LokiConfig> = {}): Promise<{ loki: LokiStandIn; client: LokiClient }> {
  const loki = createLokiStandIn();
  await loki.start();
  const client = createLokiClient(lokiConfig({ base_url: loki.url, ...overrides }), { version: '1.2.3' });
  t.teardown(async () => {
    await client.close();
    await loki.close();
  });
  return { loki, client };
}

let sequence = 0;
function batch(lines = ['one', 'two']): Promise<EncodedPush> {
  return encodePush(
    lines.map((line) => encodeEntryPayload({ labels: STREAM, seconds: 1758715200, nanos: ++sequence, line, structuredMetadata: [] })),
    'protobuf',
  );
}

async function pushOnce(client: LokiClient, tenant?: string) {
  const push = await batch();
  return client.push(push.body, push.headers, tenant);
}

t.test('a push Loki stores is a success, sent with our User-Agent and no tenant by default', async (t) => {
  const { loki, client } = await setup(t);
  const attempt = await pushOnce(client);
  t.same(attempt.outcome, { kind: 'success', status: 204 });
  t.ok(attempt.latencyMs >= 0);
  t.same(loki.received().map((e) => e.line), ['one', 'two']);
  t.equal(loki.pushes[0]?.headers['user-agent'], 'logstack/1.2.3');
  t.equal(loki.pushes[0]?.headers['content-type'], 'application/x-protobuf');
  t.equal(loki.pushes[0]?.tenant, null, 'no X-Scope-OrgID without a tenant');
  t.equal(client.pushUrl, `${loki.url}/loki/api/v1/push`);
});

t.test("X-Scope-OrgID is the token's tenant, else loki.tenant", async (t) => {
  const { loki, client } = await setup(t, { tenant: 'default-tenant' });
  await pushOnce(client, 'team-a');
  await pushOnce(client);
  t.same(loki.pushes.map((p) => p.tenant), ['team-a', 'default-tenant']);
});

t.test("keeps a gateway's path prefix and sends configured credentials and headers", async (t) => {
  const { loki, client } = await setup(t);
  const prefixed = createLokiClient(
    lokiConfig({ base_url: `${loki.url}/loki-tenant-a/`, bearer_token: 's3cr3t-token', headers: { 'X-Extra': 'yes' } }),
    { version: '1.2.3' },
  );
  t.teardown(() => prefixed.close());
  t.same((await pushOnce(prefixed)).outcome, { kind: 'success', status: 204 });
  t.equal(prefixed.pushUrl, `${loki.url}/loki-tenant-a/loki/api/v1/push`);
  t.match(loki.pushes[0], { path: '/loki-tenant-a/loki/api/v1/push', headers: { authorization: 'Bearer s3cr3t-token', 'x-extra': 'yes' } });

  const basic = createLokiClient(lokiConfig({ base_url: loki.url, basic_auth: { username: 'loki', password: 'pa:ss' } }), { version: '1.2.3' });
  t.teardown(() => basic.close());
  await pushOnce(basic);
  t.equal(loki.pushes[1]?.headers.authorization, `Basic ${Buffer.from('loki:pa:ss').toString('base64')}`);
  await pushOnce(client);
  t.equal(loki.pushes[2]?.headers.authorization, undefined);
});

t.test('takes credentials from the base URL and keeps them out of pushUrl', async (t) => {
  const { loki } = await setup(t);
  const client = createLokiClient(lokiConfig({ base_url: loki.url.replace('http://', 'http://user:p%40ss@') }), { version: '1.2.3' });
  t.teardown(() => client.close());
  await pushOnce(client);
  t.equal(loki.pushes[0]?.headers.authorization, `Basic ${Buffer.from('user:p@ss').toString('base64')}`);
  t.notMatch(client.pushUrl, /user|p%40ss/);
});

t.test('413 asks for a split', async (t) => {
  const { loki, client } = await setup(t);
  loki.setMaxBodyBytes(10);
  t.match((await pushOnce(client)).outcome, { kind: 'split', status: 413, message: /request body too large/ });
});

t.test('a reset connection is a retryable network failure', async (t) => {
  const { loki, client } = await setup(t);
  loki.answerNext(lokiAnswers.reset());
  t.match((await pushOnce(client)).outcome, { kind: 'retryable', reason: 'network', status: null, message: /\S/ });
  t.same((await pushOnce(client)).outcome, { kind: 'success', status: 204 }, 'and the next push gets through');
});

t.test('a hung Loki is a retryable timeout once loki.timeout_seconds pass', async (t) => {
  const { loki, client } = await setup(t, { timeout_seconds: 0.3 });
  loki.answerNext(lokiAnswers.hang());
  t.match((await pushOnce(client)).outcome, { kind: 'retryable', reason: 'timeout', status: null });
});

t.test('nothing listening is a retryable network failure', async (t) => {
  const gone = createLokiStandIn();
  const url = await gone.start();
  await gone.close();
  const client = createLokiClient(lokiConfig({ base_url: url }), { version: '1.2.3' });
  t.teardown(() => client.close());
  t.match((await pushOnce(client)).outcome, { kind: 'retryable', reason: 'network', status: null, message: /ECONNREFUSED/ });
});

t.test('get() answers status and body, and rejects with a readable reason when Loki is unreachable', async (t) => {
  const { loki, client } = await setup(t);
  t.same(await client.get('/ready', 1000), { status: 200, body: 'ready' });
  loki.setReady('not-ready');
  t.match(await client.get('/ready', 1000), { status: 503, body: /^Ingester not ready/ });
  const gone = createLokiStandIn();
  const url = await gone.start();
  await gone.close();
  const unreachable = createLokiClient(lokiConfig({ base_url: url }), { version: '1.2.3' });
  t.teardown(() => unreachable.close());
  await t.rejects(unreachable.get('/ready', 1000), /ECONNREFUSED/);
});

t.test('close() runs once and the client refuses use afterwards', async (t) => {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  const client = createLokiClient(lokiConfig({ base_url: loki.url }), { version: '1.2.3' });
  await pushOnce(client);
  const first = client.close();
  t.equal(client.close(), first);
  await first;
  const push = await batch();
  await t.rejects(client.push(push.body, push.headers), /used after close/);
});

t.test('an unreadable TLS file stops the start with a config error naming it', async (t) => {
  t.throws(
    () => createLokiClient(lokiConfig({ base_url: 'https://loki.invalid', tls: { ca_file: '/nonexistent/ca.pem', insecure_skip_verify: false } }), { version: '1' }),
    { code: ERRORS.CONFIG_UNREADABLE.code, message: /\/nonexistent\/ca\.pem/ },
  );
});
