import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../src/observability/logger.js';
import { LogstackService } from '../src/service.js';
import { testConfig } from './support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from './support/loki-stand-in.js';

const TOKEN = 'tok_payments_0123456789abcdef';
const ADMIN = 'adm_0123456789abcdef0123456789';

interface Running {
  service: LogstackService;
  url: string;
  loki: LokiStandIn;
  root: string;
  logs: string[];
  post(path: string, body: unknown, token?: string): Promise<{ status: number; json: any }>;
  get(path: string, token?: string): Promise<{ status: number; json: any }>;
}

async function run(t: Test, loki: Record<string, unknown> = {}): Promise<Running> {
  const standIn = createLokiStandIn();
  await standIn.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-service-'));
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2 },
    security: { admin_token: ADMIN, api_keys: { [TOKEN]: { name: 'payments-api', active: true, tenant: 'team-payments' } } },
    wal: { wal_root_path: root, lock_stale_seconds: 2 },
    loki: { base_url: standIn.url, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 200, ready_check_interval_seconds: 1, ...loki },
  });
  const logs: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } });
  const service = new LogstackService({ config, logger, version: 'test' });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await standIn.close();
    await rm(root, { recursive: true, force: true });
  });
  const call = async (method: string, path: string, body: unknown, token?: string) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() };
  };
  return {
    service,
    url,
    loki: standIn,
    root,
    logs,
    post: (path, body, token) => call('POST', path, body, token),
    get: (path, token) => call('GET', path, undefined, token),
  };
}

const now = () => new Date().toISOString();
const entry = (i: number, extra: Record<string, unknown> = {}) => ({
  timestamp: now(),
  level: 'ERROR',
  message: `Payment ${i} failed for card 4111 1111 1111 1111 with Bearer sk_live_51H8abcdefghijklmnop`,
  service: 'payments-api',
  env: 'prod',
  metadata: { order_id: `O-${i}`, user: { email: 'jane.doe@example.com', password: 'hunter2' }, ...extra },
});

t.test('an accepted entry reaches Loki masked, under its labels and tenant; secrets reach neither disk, logs nor Loki', async (t) => {
  const r = await run(t);
  const res = await r.post('/v1/logs:ingest', { entries: [entry(1), entry(2)] }, TOKEN);
  t.equal(res.status, 202);
  t.equal(res.json.accepted, 2);
  await r.loki.waitFor(2);
  const got = r.loki.received('team-payments');
  t.equal(got.length, 2);
  t.same(got[0]!.labels, { env: 'prod', level: 'ERROR', service: 'payments-api' });
  t.match(got[0]!.line, /^Payment 1 failed for card \*+/);
  t.same(got[0]!.structuredMetadata.user_password, '****');
  t.same(got[0]!.structuredMetadata.user_email, 'j******e@example.com');

  const everything = [
    JSON.stringify(r.loki.received()),
    r.logs.join('\n'),
    ...(await Promise.all((await readdir(join(r.root, 'payments-api'))).filter((f) => f.endsWith('.wal')).map((f) => readFile(join(r.root, 'payments-api', f), 'latin1')))),
  ].join('\n');
  for (const secret of ['hunter2', '4111 1111 1111 1111', 'sk_live_51H8abcdefghijklmnop', 'jane.doe@example.com', TOKEN, ADMIN]) {
    t.notOk(everything.includes(secret), `${secret.slice(0, 6)}… never appears`);
  }
});

t.test('/readyz says why it is not ready while Loki is down, and recovers', async (t) => {
  const r = await run(t);
  const ready = await r.get('/readyz');
  t.equal(ready.status, 200);
  t.same(Object.keys(ready.json.checks).sort(), ['disk', 'forwarder', 'loki', 'wal']);
  r.loki.setReady('not-ready');
  await new Promise((res) => setTimeout(res, 1100));
  const down = await r.get('/readyz');
  t.equal(down.status, 503);
  t.equal(down.json.checks.loki.ok, false);
  t.match(down.json.checks.loki.detail, /503|not ready/i);
  t.equal((await r.get('/healthz')).status, 200, 'liveness does not depend on Loki');
  r.loki.setReady('ready');
  await new Promise((res) => setTimeout(res, 1100));
  t.equal((await r.get('/readyz')).status, 200);
});

t.test('admin flush waits until delivered and reports per token; status shows the last push', async (t) => {
  const r = await run(t, { batch_max_wait_ms: 60_000 });
  await r.post('/v1/logs:ingest', { entries: [entry(1)] }, TOKEN);
  t.equal((await r.post('/v1/admin/flush?wait=true', undefined, TOKEN)).status, 403, 'an ingest token is not an admin token');
  const flushed = await r.post('/v1/admin/flush?wait=true&timeout_seconds=5', undefined, ADMIN);
  t.equal(flushed.status, 200);
  t.match(flushed.json, { complete: true, tokens: { 'payments-api': { delivered: true, pendingEntries: 0 } } });
  t.equal(r.loki.received().length, 1, 'delivered despite a long batch wait');
  const status = await r.get('/v1/admin/status', ADMIN);
  t.match(status.json.tokens['payments-api'], { pending_entries: 0, delivery: 'ok', tenant: 'team-payments', last_push: { result: 'success', status: 204 } });
  t.match(status.json.loki, { reachable: true });
});

t.test('a flush that cannot finish answers 504 with each token\'s progress', async (t) => {
  const r = await run(t);
  r.loki.setStandingAnswer(lokiAnswers.unavailable());
  await r.post('/v1/logs:ingest', { entries: [entry(1)] }, TOKEN);
  const res = await r.post('/v1/admin/flush?wait=true&timeout_seconds=0.3', undefined, ADMIN);
  t.equal(res.status, 504);
  t.match(res.json, { error: 'flush_timeout', details: { 'payments-api': { delivered: false } } });
  const change = r.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.to === 'retrying');
  t.match(change, { token_name: 'payments-api', level: 40 }, 'the state change is logged once, naming the key');
});

t.test('entries Loki refuses are listed as dead letters and can be replayed', async (t) => {
  const r = await run(t);
  r.loki.answerNext(lokiAnswers.timestampTooOld('{service="payments-api"}'));
  await r.post('/v1/logs:ingest', { entries: [entry(1), entry(2)] }, TOKEN);
  await r.post('/v1/admin/flush?wait=true', undefined, ADMIN);
  const dl = await r.get('/v1/admin/dead-letters', ADMIN);
  t.match(dl.json.tokens['payments-api'], { entries: 2, reasons: { timestamp_too_old: 2 } });
  const replay = await r.post('/v1/admin/dead-letters:replay?token=payments-api', undefined, ADMIN);
  t.same(replay.json, { replayed: { 'payments-api': 2 } });
  await r.loki.waitFor(2);
  t.equal((await r.post('/v1/admin/dead-letters:replay?token=nope', undefined, ADMIN)).status, 400);
});

t.test('delivery shows in the metrics, labelled by key name, never by token', async (t) => {
  const r = await run(t);
  await r.post('/v1/logs:ingest', { entries: [entry(1), entry(2), entry(3)] }, TOKEN);
  await r.post('/v1/admin/flush?wait=true', undefined, ADMIN);
  const text = await (await fetch(`${r.url}/metrics`)).text();
  const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"=,]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1]);
  t.equal(value('logs_ingested_total{token="payments-api"}'), 3);
  t.equal(value('logs_forwarded_total{token="payments-api"}'), 3);
  t.equal(value('logs_delivery_latency_seconds_count{token="payments-api"}'), 3, 'one latency observation per entry');
  t.ok(value('loki_push_requests_total{token="payments-api",outcome="success",status_class="2xx"}') >= 1);
  t.equal(value('wal_backlog_bytes{token="payments-api"}'), 0);
  t.equal(value('wal_oldest_unshipped_age_seconds{token="payments-api"}'), 0);
  t.equal(value('forwarder_token_health{token="payments-api"}'), 0);
  t.equal(value('loki_up'), 1);
  t.notOk(text.includes(TOKEN) || text.includes(ADMIN), 'no token in the exposition');
});
