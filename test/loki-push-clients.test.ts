/**
 * Loki clients pointed at LogStack instead of Loki: what reaches Loki (the stand-in) is what the
 * same client sends to Loki directly, except for masking and the tenant, which is the key's.
 * The reference is the client's own push to a second stand-in, decoded independently of
 * LogStack (protobufjs, JSON.parse).
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { pinoLoki } from 'pino-loki';
import t, { type Test } from 'tap';
import LokiTransport from 'winston-loki';
import { createLogger } from '../src/observability/logger.js';
import { LogstackService } from '../src/service.js';
import { testConfig } from './support/config.js';
import { createLokiStandIn, referenceProtobufPush, type LokiStandIn, type ReceivedEntry } from './support/loki-stand-in.js';

const TOKEN = 'tok_shop_0123456789abcdef';
const TENANT = 'team-shop';

interface Running {
  /** LogStack's URL: what the clients are pointed at. */
  readonly url: string;
  /** Loki behind LogStack. */
  readonly loki: LokiStandIn;
  /** Loki the same client pushes to directly, for the reference. */
  readonly direct: LokiStandIn;
}

async function run(t: Test): Promise<Running> {
  const loki = createLokiStandIn();
  const direct = createLokiStandIn();
  await loki.start();
  await direct.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-loki-clients-'));
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2 },
    security: { api_keys: { [TOKEN]: { name: 'shop', tenant: TENANT } } },
    wal: { wal_root_path: root, lock_stale_seconds: 2 },
    loki: { base_url: loki.url, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 200 },
  });
  const service = new LogstackService({ config, logger: createLogger({ level: 'silent' }), version: 'test' });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await loki.close();
    await direct.close();
    await rm(root, { recursive: true, force: true });
  });
  return { url, loki, direct };
}

/** Entries in a stable order, without the tenant (compared on its own). */
function comparable(entries: readonly ReceivedEntry[]): Array<Omit<ReceivedEntry, 'tenant'>> {
  return entries
    .map(({ tenant: _, ...entry }) => entry)
    .sort((a, b) => (a.tsNs === b.tsNs ? a.line.localeCompare(b.line) : a.tsNs < b.tsNs ? -1 : 1));
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = Number(digits[digits.length - 1 - i]);
    sum += i % 2 === 1 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
  }
  return sum % 10 === 0;
}

/**
 * The tests' clock, read once: a client's entries sent to Loki and to LogStack must carry the
 * same times to compare, and on a busy machine the two sends may fall in different seconds.
 */
const RECENT_BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 5000;

/**
 * Milliseconds since the epoch of a few seconds ago. An epoch in milliseconds has 13 digits, as
 * the shortest card numbers, and one in ten passes Luhn: in a JSON line (pino's `time`) the
 * card pattern would mask it, so these times are chosen to fail Luhn and keep the lines comparable.
 */
function recentMs(i: number): number {
  let ms = RECENT_BASE_MS + i * 7;
  while (luhnValid(String(ms))) ms++;
  return ms;
}

t.test('a protobuf + snappy push as Alloy and Promtail send it arrives as sent, under the key tenant', async (t) => {
  const r = await run(t);
  const tsNs = (i: number) => `${recentMs(i)}${String(100_000 + i * 1111).padStart(6, '0')}`;
  const streams = [
    {
      labels: '{job="varlogs", filename="/var/log/app.log", host="node-1"}',
      entries: [
        { tsNs: tsNs(0), line: 'GET /cart 200 12ms', structuredMetadata: { trace_id: '4bf92f3577b34da6', password: 'hunter2' } },
        { tsNs: tsNs(1), line: 'charged card 4111 1111 1111 1111' },
      ],
    },
    { labels: '{job="varlogs", filename="/var/log/worker.log", host="node-1"}', entries: [{ tsNs: tsNs(2), line: 'job done' }] },
  ];
  for (const [url, loki, headers] of [
    [r.direct.url, r.direct, {}],
    [r.url, r.loki, { authorization: `Bearer ${TOKEN}`, 'x-scope-orgid': 'someone-else' }],
  ] as const) {
    const res = await fetch(`${url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...headers }, body: referenceProtobufPush(streams) });
    t.equal(res.status, 204);
    await loki.waitFor(3);
  }
  const expected = comparable(r.direct.received()).map((e) =>
    e.line.startsWith('charged') ? { ...e, line: 'charged card ****1111' } : e.structuredMetadata.password ? { ...e, structuredMetadata: { ...e.structuredMetadata, password: '****' } } : e,
  );
  t.same(comparable(r.loki.received()), expected, 'labels, nanosecond timestamps, lines and structured metadata as sent, masked');
  t.same(new Set(r.loki.received().map((e) => e.tenant)), new Set([TENANT]), "the key's tenant; the client's X-Scope-OrgID is ignored");
});

t.test('Fluent Bit-shaped JSON with Basic auth (http_user / http_passwd) arrives as sent', async (t) => {
  const r = await run(t);
  const record = { log: 'user logged in', kubernetes: { pod: 'web-1' }, authorization: 'Bearer abc.def' };
  const body = JSON.stringify({
    streams: [{ stream: { job: 'fluent-bit', namespace: 'web' }, values: [[`${recentMs(0)}000000`, JSON.stringify(record)]] }],
  });
  const basic = `Basic ${Buffer.from(`fluent:${TOKEN}`).toString('base64')}`;
  for (const [url, loki, headers] of [
    [r.direct.url, r.direct, {}],
    [r.url, r.loki, { authorization: basic }],
  ] as const) {
    const res = await fetch(`${url}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    t.equal(res.status, 204);
    await loki.waitFor(1);
  }
  const [sent] = comparable(r.direct.received());
  t.same(comparable(r.loki.received()), [{ ...sent, line: JSON.stringify({ ...record, authorization: 'Beare****' }) }], 'the JSON line masked by key (partial rule keep_prefix 5)');
});

t.test('pino-loki (JSON, Basic auth) ships through LogStack as to Loki, masked by key', async (t) => {
  const r = await run(t);
  const send = async (host: string, basicAuth?: { username: string; password: string }): Promise<void> => {
    const transport = pinoLoki({ host, ...(basicAuth === undefined ? {} : { basicAuth }), labels: { app: 'shop' }, batching: { interval: 3600 }, silenceErrors: false });
    let i = 0;
    const logger = pino({ base: { pid: 4242, hostname: 'node-1' }, timestamp: () => `,"time":${recentMs(i++)}` }, transport);
    logger.info({ order: 'O-1', user: { email: 'jane.doe@example.com', password: 'hunter2' } }, 'order placed');
    logger.warn({ meta: { trace_id: 't-1' } }, 'slow checkout');
    logger.error('payment failed');
    transport.end();
    await once(transport, 'close');
  };
  await send(r.direct.url);
  await r.direct.waitFor(3);
  await send(r.url, { username: 'shop', password: TOKEN });
  await r.loki.waitFor(3);

  const expected = comparable(r.direct.received()).map((e) => ({
    ...e,
    line: e.line.replace('"email":"jane.doe@example.com","password":"hunter2"', '"email":"j******e@example.com","password":"****"'),
  }));
  t.match(expected[0]!.line, /"password":"\*\*\*\*"/, 'the reference has the secret the masked copy lacks');
  t.same(comparable(r.loki.received()), expected);
  t.same(r.loki.received()[0]!.labels, { app: 'shop', hostname: 'node-1', level: 'info' });
});

for (const json of [false, true]) {
  t.test(`winston-loki (${json ? 'JSON' : 'protobuf + snappy'}, Basic auth) ships through LogStack as to Loki`, async (t) => {
    const r = await run(t);
    const send = async (host: string, basicAuth?: string): Promise<void> => {
      const transport = new LokiTransport({
        host,
        json,
        labels: { app: 'shop' },
        replaceTimestamp: false,
        gracefulShutdown: false,
        interval: 3600,
        ...(basicAuth === undefined ? {} : { basicAuth }),
      });
      const log = (i: number, message: string, meta: Record<string, unknown>) =>
        new Promise<void>((resolve) => transport.log!({ level: 'info', [Symbol.for('level')]: 'info', message, timestamp: new Date(recentMs(i)).toISOString(), ...meta }, () => resolve()));
      await log(0, 'order placed', { order: 'O-1' });
      await log(1, 'card 4111 1111 1111 1111 declined', { token: 'secret-token' });
      // close() sends what is batched; flush() only waits for the interval's send.
      await transport.close();
    };
    await send(r.direct.url);
    await r.direct.waitFor(2);
    await send(r.url, `shop:${TOKEN}`);
    await r.loki.waitFor(2);

    const expected = comparable(r.direct.received()).map((e) => ({
      ...e,
      // winston-loki appends the metadata to the line as JSON: its token is masked there too.
      line: e.line.replace('4111 1111 1111 1111', '****1111').replace('"token":"secret-token"', '"token":"****"'),
      structuredMetadata: e.structuredMetadata.token === undefined ? e.structuredMetadata : { ...e.structuredMetadata, token: '****' },
    }));
    t.same(comparable(r.loki.received()), expected);
    t.same(r.loki.received()[0]!.labels, { app: 'shop', level: 'info' });
    if (json) t.equal(r.loki.received()[1]!.structuredMetadata.token, '****', 'structured metadata masked by key');
  });
}
