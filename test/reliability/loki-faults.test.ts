/**
 * Loki's faults, seen from outside: a LogstackService in-process with two keys on two tenants,
 * posting entries that each carry a unique id, against the Loki stand-in (behind a TCP gate
 * that can refuse connections). Every id answered 202 must reach the stand-in under its tenant,
 * once, or — only where the stand-in answered 400 — the key's dead-letter store; and the
 * retries must show in /metrics as many times as the stand-in answered the fault.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { testConfig } from '../support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn, type PushRecord, type StandInAnswer } from '../support/loki-stand-in.js';
import { createTcpGate, type TcpGate } from '../support/tcp-gate.js';

const ADMIN = 'adm_lokifaults_0123456789abcdef';
const KEYS = {
  orders: { token: 'tok_orders_0123456789abcdef', tenant: 'team-orders' },
  billing: { token: 'tok_billing_0123456789abcdef', tenant: 'team-billing' },
} as const;
type KeyName = keyof typeof KEYS;
/** The schema's smallest per-key quota. */
const QUOTA = 1024 * 1024;
const SEGMENT = 64 * 1024;
const streamOf = (name: KeyName) => `{env="test", level="INFO", service="${name}"}`;

// --- clients that remember what was acknowledged ------------------------------------------------

interface Answer {
  readonly status: number;
  readonly json: any;
  readonly headers: Headers;
}

interface Client {
  readonly name: KeyName;
  /** Ids answered 202. */
  readonly acked: string[];
  /** Requests by the answer: `202`, or the status and error code (`429 wal_quota_exceeded`). */
  readonly answers: Map<string, number>;
  /** Posts `count` entries whose messages are the id and `lineBytes` random letters. */
  post(count: number, lineBytes?: number): Promise<Answer>;
}

/** Random lowercase letters: snappy cannot shrink them, and no masking pattern matches them. */
function letters(n: number): string {
  return Buffer.from(randomBytes(n).map((b) => 97 + (b % 26))).toString('latin1');
}

const idOf = (line: string) => line.slice(0, line.indexOf(' '));

function ingestClient(url: string, name: KeyName, label: string): Client {
  const { token } = KEYS[name];
  const acked: string[] = [];
  const answers = new Map<string, number>();
  let next = 0;
  return {
    name,
    acked,
    answers,
    async post(count, lineBytes = 80) {
      const ids = Array.from({ length: count }, () => `${name}-${label}-${String(++next).padStart(6, '0')}`);
      const entries = ids.map((id) => ({ timestamp: new Date().toISOString(), level: 'INFO', service: name, env: 'test', message: `${id} ${letters(lineBytes)}` }));
      const res = await fetch(`${url}/v1/logs:ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ entries }),
      });
      const answer: Answer = { status: res.status, json: await res.json(), headers: res.headers };
      const kind = res.status === 202 ? '202' : `${res.status} ${answer.json.error}`;
      answers.set(kind, (answers.get(kind) ?? 0) + 1);
      if (res.status === 202) acked.push(...ids);
      return answer;
    },
  };
}

// --- what LogStack shows: metrics, disk, dead letters --------------------------------------------

/** Sum of the samples of `name` whose labels include `labels` (0 when there is none). */
type Metrics = (name: string, labels?: Readonly<Record<string, string>>) => number;

function parseMetrics(text: string): Metrics {
  const samples = text.split('\n').flatMap((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) return [];
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    return [{ name: m[1]!, labels, value: Number(m[3]) }];
  });
  return (name, labels = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

/** Bytes of the key's WAL segment files, and how many there are. */
async function walFiles(root: string, name: KeyName): Promise<{ files: number; bytes: number }> {
  const dir = join(root, name);
  const segments = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
  let bytes = 0;
  let files = 0;
  for (const f of segments) {
    try {
      bytes += (await stat(join(dir, f))).size;
      files++;
    } catch (err) {
      // A delivered segment may be deleted between the listing and the stat.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return { files, bytes };
}

/** Ids in `<wal root>/<key>/dead-letter/*.jsonl`. */
async function deadLettersOnDisk(root: string, name: KeyName): Promise<Set<string>> {
  const dir = join(root, name, 'dead-letter');
  const ids = new Set<string>();
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const f of files) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      if (line === '') continue;
      const batch = JSON.parse(line) as { entries: Array<{ line: string }> };
      for (const e of batch.entries) ids.add(idOf(e.line));
    }
  }
  return ids;
}

// --- what the stand-in saw -----------------------------------------------------------------------

const pushesOf = (loki: LokiStandIn, name: KeyName, match: (p: PushRecord) => boolean = () => true) =>
  loki.pushes.filter((p) => p.tenant === KEYS[name].tenant && match(p));

const receivedIds = (loki: LokiStandIn, name: KeyName) => new Set(loki.received(KEYS[name].tenant).map((e) => idOf(e.line)));

/** Ids of the key's entries in pushes the stand-in answered 400. */
const refusedIds = (loki: LokiStandIn, name: KeyName) =>
  new Set(pushesOf(loki, name, (p) => p.status === 400).flatMap((p) => p.notStored.map((e) => idOf(e.line))));

const delivered = (loki: LokiStandIn, client: Client) => {
  const got = receivedIds(loki, client.name);
  return client.acked.every((id) => got.has(id));
};

interface Accounting {
  readonly acked: number;
  /** Acked ids neither at the stand-in under the key's tenant nor in the key's dead letters (misrouted ones too). */
  readonly lost: string[];
  /** Ids stored more than once (Loki keeps an identical entry once; a different copy would be twice). */
  readonly twice: string[];
  /** Ids at the stand-in or in dead letters that no 202 acknowledged. */
  readonly unacknowledged: string[];
  /** Dead-lettered ids that were in no push answered 400. */
  readonly deadLetteredNotRefused: string[];
  /** Ids of pushes answered 400 that are not dead letters. */
  readonly refusedNotDeadLettered: string[];
  readonly deadLetters: number;
}

async function account(r: Rig, clients: readonly Client[]): Promise<Accounting> {
  const acked = new Set(clients.flatMap((c) => c.acked));
  const counts = new Map<string, number>();
  for (const e of r.loki.received()) counts.set(idOf(e.line), (counts.get(idOf(e.line)) ?? 0) + 1);
  const lost: string[] = [];
  const unacknowledged: string[] = [];
  const deadLetteredNotRefused: string[] = [];
  const refusedNotDeadLettered: string[] = [];
  let deadLetters = 0;
  for (const name of new Set(clients.map((c) => c.name))) {
    const got = receivedIds(r.loki, name);
    const dead = await deadLettersOnDisk(r.root, name);
    const refused = refusedIds(r.loki, name);
    deadLetters += dead.size;
    for (const c of clients.filter((c) => c.name === name)) lost.push(...c.acked.filter((id) => !got.has(id) && !dead.has(id)));
    unacknowledged.push(...[...got, ...dead].filter((id) => !acked.has(id)));
    deadLetteredNotRefused.push(...[...dead].filter((id) => !refused.has(id)));
    refusedNotDeadLettered.push(...[...refused].filter((id) => !dead.has(id)));
  }
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  return { acked: acked.size, lost, twice, unacknowledged, deadLetteredNotRefused, refusedNotDeadLettered, deadLetters };
}

function assertAccounted(t: Test, acc: Accounting): void {
  const sample = (ids: string[]) => ids.slice(0, 5).join(', ');
  t.equal(acc.lost.length, 0, `every one of ${acc.acked} acknowledged ids reached Loki or its dead letters ${sample(acc.lost)}`);
  t.equal(acc.twice.length, 0, `no id was stored twice ${sample(acc.twice)}`);
  t.equal(acc.unacknowledged.length, 0, `nothing reached Loki that was not acknowledged ${sample(acc.unacknowledged)}`);
  t.equal(acc.deadLetteredNotRefused.length, 0, `only entries Loki refused are dead letters ${sample(acc.deadLetteredNotRefused)}`);
  t.equal(acc.refusedNotDeadLettered.length, 0, `every entry Loki refused is a dead letter ${sample(acc.refusedNotDeadLettered)}`);
}

// --- the rig --------------------------------------------------------------------------------------

interface Rig {
  readonly root: string;
  readonly loki: LokiStandIn;
  readonly gate: TcpGate;
  readonly logs: string[];
  client(name: KeyName, label?: string): Client;
  admin(method: 'GET' | 'POST', path: string): Promise<Answer>;
  /** POST /v1/admin/flush?wait=true. */
  flush(timeoutSeconds?: number): Promise<Answer>;
  metrics(): Promise<Metrics>;
}

/**
 * How long a push may take before it is a timeout (s) where hangs are not the point: a push to
 * the stand-in on this machine takes milliseconds, and more than a second when the machine is
 * busy, which a bound of 1 s counted as a timeout and a retry the test did not cause. The cases
 * that make Loki hang ask for 2 s, to be quick about them.
 */
const PUSH_TIMEOUT_SECONDS = 10;
const HANG_TIMEOUT_SECONDS = 2;

async function rig(t: Test, loki: Record<string, unknown> = {}): Promise<Rig> {
  const standIn = createLokiStandIn();
  const gate = createTcpGate(await standIn.start());
  await gate.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-loki-faults-'));
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2 },
    security: {
      admin_token: ADMIN,
      api_keys: Object.fromEntries(Object.entries(KEYS).map(([name, k]) => [k.token, { name, tenant: k.tenant, wal_quota_bytes: QUOTA }])),
    },
    wal: { wal_root_path: root, segment_max_bytes: SEGMENT, lock_stale_seconds: 2 },
    loki: {
      base_url: gate.url,
      batch_max_wait_ms: 10,
      batch_max_bytes: 64 * 1024,
      backoff_initial_ms: 10,
      backoff_max_ms: 100,
      timeout_seconds: PUSH_TIMEOUT_SECONDS,
      ready_check_interval_seconds: 1,
      ...loki,
    },
  });
  const logs: string[] = [];
  const logger = createLogger({ level: 'warn', destination: { write: (l: string) => void logs.push(l) } });
  const service = new LogstackService({ config, logger, version: 'test' });
  const url = await service.start();
  t.teardown(async () => {
    standIn.setStandingAnswer(null);
    await service.stop(0);
    gate.close();
    await standIn.close();
    await rm(root, { recursive: true, force: true });
  });
  const admin = async (method: 'GET' | 'POST', path: string): Promise<Answer> => {
    const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
    return { status: res.status, json: await res.json(), headers: res.headers };
  };
  return {
    root,
    loki: standIn,
    gate,
    logs,
    client: (name, label = 'a') => ingestClient(url, name, label),
    admin,
    flush: (timeoutSeconds = 60) => admin('POST', `/v1/admin/flush?wait=true&timeout_seconds=${timeoutSeconds}`),
    metrics: async () => parseMetrics(await (await fetch(`${url}/metrics`)).text()),
  };
}

/** Resolves once `condition` holds (checked every 20 ms); rejects after `timeoutMs`. */
async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

function assertNoInternalErrors(t: Test, r: Rig): void {
  const errors = r.logs.filter((l) => /forwarder error/.test(l));
  t.same(errors, [], 'the forwarder logged no internal error');
}

// --- 1. a long outage -----------------------------------------------------------------------------

t.test('a long outage of one tenant fills its quota, keeps what was acknowledged, lets the other tenant flow, then drains', async (t) => {
  const r = await rig(t, { timeout_seconds: HANG_TIMEOUT_SECONDS });
  const orders = r.client('orders');
  const billing = r.client('billing');
  await orders.post(10);
  await billing.post(10);
  t.equal((await r.flush()).status, 200, 'both tenants deliver before the outage');

  // Phase 1: Loki answers 503 to the orders tenant only, while both keep posting.
  r.loki.setStandingAnswer(lokiAnswers.unavailable(), { tenant: KEYS.orders.tenant });
  // Large requests until one no longer fits, then small ones until none does.
  let full: Answer | undefined;
  for (const size of [50, 5]) {
    full = undefined;
    for (let i = 0; i < 40 && full === undefined; i++) {
      const answer = await orders.post(size, 2000);
      if (answer.status !== 202) full = answer;
      await billing.post(5);
    }
  }
  t.ok(full, 'ingest of orders was refused once its backlog reached the quota');
  t.equal(full?.status, 429);
  t.match(full?.json, { error: 'wal_quota_exceeded', message: /full/, request_id: String }, 'the JSON body names the code');
  t.equal(full?.headers.get('retry-after'), '30');
  t.equal(full?.headers.get('x-request-id'), full?.json.request_id);
  t.same([...orders.answers.keys()], ['202', '429 wal_quota_exceeded'], 'every request before the quota was reached was accepted');
  let m = await r.metrics();
  const backlog = m('wal_backlog_bytes', { token: 'orders' });
  t.ok(backlog <= QUOTA && backlog > QUOTA - 5 * 2500, `the backlog (${backlog} bytes) is at the quota, not past it`);
  t.ok(m('logs_rejected_total', { token: 'orders', reason: 'wal_quota_exceeded' }) >= 50, 'the refusal is counted by reason');
  const atQuota = await walFiles(r.root, 'orders');
  t.ok(atQuota.bytes <= QUOTA + SEGMENT, `segment files (${atQuota.bytes} bytes) stay within the quota and one segment`);
  t.ok(pushesOf(r.loki, 'orders', (p) => p.status === 503).length > 0, 'Loki answered 503 to orders');
  await r.loki.waitFor(() => delivered(r.loki, billing), 30_000);
  t.pass('billing was delivered while orders got 503s');
  // The cursor moves once LogStack has read Loki's answer, a moment after the stand-in stored the push.
  let status: any;
  await eventually('billing has nothing pending', async () => {
    status = (await r.admin('GET', '/v1/admin/status')).json;
    return status.tokens.billing.pending_entries === 0;
  });
  t.match(
    status.tokens.orders,
    { delivery: /retrying|failing/, quota_bytes: QUOTA, pending_entries: orders.acked.length - receivedIds(r.loki, 'orders').size, last_push: { result: 'retryable', status: 503 } },
    'the status shows orders retrying, with every undelivered entry pending',
  );
  t.equal(status.tokens.billing.delivery, 'ok');
  m = await r.metrics();
  t.ok(m('forwarder_token_health', { token: 'orders' }) >= 1 && m('forwarder_token_health', { token: 'billing' }) === 0, 'so does forwarder_token_health');
  t.ok(m('wal_oldest_unshipped_age_seconds', { token: 'orders' }) > 0);

  // Phase 2: orders' pushes hang past the request timeout.
  r.loki.setStandingAnswer(lokiAnswers.hang(), { tenant: KEYS.orders.tenant });
  for (let i = 0; i < 3; i++) {
    t.equal((await orders.post(5, 2000)).status, 429, 'orders stays refused while its backlog is full');
    t.equal((await billing.post(10)).status, 202);
  }
  await eventually('an orders push timed out', async () => (await r.metrics())('loki_push_retries_total', { token: 'orders', reason: 'timeout' }) >= 1);
  status = (await r.admin('GET', '/v1/admin/status')).json;
  t.match(status.tokens.orders.last_push, { result: 'retryable', status: null, message: `no complete answer within ${HANG_TIMEOUT_SECONDS * 1000} ms` }, 'the status says the push timed out');
  await r.loki.waitFor(() => delivered(r.loki, billing), 30_000);
  t.pass('billing was delivered while orders hung');

  // Phase 3: Loki is gone: connections are refused, for both tenants.
  r.gate.refuse();
  for (let i = 0; i < 3; i++) {
    t.equal((await billing.post(10)).status, 202, 'ingest does not depend on Loki');
    t.equal((await orders.post(5, 2000)).status, 429, 'orders stays refused while its backlog is full');
  }
  await eventually('both tenants met a refused connection', async () => {
    status = (await r.admin('GET', '/v1/admin/status')).json;
    return [status.tokens.orders, status.tokens.billing].every((s) => /ECONNREFUSED/.test(s.last_push?.message ?? ''));
  });
  t.match(status.tokens.billing, { delivery: /retrying|failing/, last_push: { result: 'retryable', status: null } }, 'the status says Loki refuses connections');
  m = await r.metrics();
  t.ok(m('loki_push_retries_total', { token: 'orders', reason: 'network' }) >= 1 && m('loki_push_retries_total', { token: 'billing', reason: 'network' }) >= 1, 'counted as network retries');
  const refusedDisk = await walFiles(r.root, 'orders');
  t.ok(refusedDisk.bytes <= QUOTA + SEGMENT, `segment files (${refusedDisk.bytes} bytes) still within the quota and one segment`);

  // Loki returns.
  r.loki.setStandingAnswer(null, { tenant: KEYS.orders.tenant });
  await r.gate.open();
  const flushed = await r.flush(30);
  t.equal(flushed.status, 200, 'the backlog drains');
  t.equal(flushed.json.complete, true);
  const acc = await account(r, [orders, billing]);
  assertAccounted(t, acc);
  t.equal(acc.deadLetters, 0, 'nothing was dead-lettered');
  await eventually('the delivered segments are deleted', async () => (await walFiles(r.root, 'orders')).bytes <= 1024);
  t.ok((await walFiles(r.root, 'orders')).files <= 1, 'at most the empty active segment is left');
  m = await r.metrics();
  t.equal(m('wal_backlog_bytes', { token: 'orders' }), 0);
  t.equal(m('wal_pending_entries', { token: 'orders' }), 0);

  const again = await orders.post(20);
  t.equal(again.status, 202, 'ingest of orders is accepted again');
  t.equal((await r.flush()).status, 200);
  assertAccounted(t, await account(r, [orders, billing]));
  assertNoInternalErrors(t, r);
  t.comment(`outage: ${acc.acked} acknowledged, ${orders.answers.get('429 wal_quota_exceeded')} requests refused with wal_quota_exceeded, ${r.loki.duplicatesReceived} duplicates`);
});

// --- 2. one fault at a time on one tenant ---------------------------------------------------------

/**
 * Posts for both keys while `fault` stands for the orders tenant, until `enough` holds; then
 * billing must be delivered while the fault still stands; then the fault is lifted and
 * everything must be delivered, nothing dead-lettered. Returns the metrics at the end.
 */
async function underFault(
  t: Test,
  r: Rig,
  opts: { fault: () => void; lift: () => void; enough: () => boolean; ordersLineBytes?: number; ordersPerPost?: number },
): Promise<Metrics> {
  const orders = r.client('orders');
  const billing = r.client('billing');
  opts.fault();
  // Only a wedged service takes this long: the loop ends as soon as `enough` holds.
  const deadline = Date.now() + 60_000;
  while (!opts.enough()) {
    if (Date.now() > deadline) throw new Error('the fault was not answered often enough within 60 s');
    await orders.post(opts.ordersPerPost ?? 10, opts.ordersLineBytes);
    await billing.post(10);
    await sleep(50);
  }
  await r.loki.waitFor(() => delivered(r.loki, billing), 30_000);
  t.pass('billing was delivered while orders met the fault');
  opts.lift();
  const flushed = await r.flush();
  t.equal(flushed.status, 200, 'everything is delivered once the fault is lifted');
  const accounting = await account(r, [orders, billing]);
  assertAccounted(t, accounting);
  t.equal(accounting.deadLetters, 0, 'nothing was dead-lettered');
  const metrics = await r.metrics();
  t.equal(metrics('loki_push_retries_total', { token: 'billing' }), 0, 'billing needed no retry');
  assertNoInternalErrors(t, r);
  return metrics;
}

const onOrders = (r: Rig, answer: StandInAnswer | null) => () => r.loki.setStandingAnswer(answer, { tenant: KEYS.orders.tenant });

// Each case waits on timers far more than it computes: they run side by side.
t.test('one fault at a time on one tenant: nothing lost, the other tenant unaffected, the retries counted', { jobs: 6 }, async (t) => {
  t.test('a 429 storm, without then with Retry-After, which is honoured', async (t) => {
    const r = await rig(t);
    // The push in flight when the header is switched on may have been answered without it.
    let firstWithHeader = Infinity;
    const metrics = await underFault(t, r, {
      fault: onOrders(r, lokiAnswers.rateLimited(KEYS.orders.tenant)),
      lift: onOrders(r, null),
      enough: () => {
        const pushes = pushesOf(r.loki, 'orders');
        if (firstWithHeader === Infinity && pushes.length >= 5) {
          onOrders(r, lokiAnswers.rateLimited(KEYS.orders.tenant, 1))();
          firstWithHeader = pushes.length + 1;
        }
        return pushes.length >= firstWithHeader + 2;
      },
    });
    const pushes = pushesOf(r.loki, 'orders');
    const throttled = pushes.filter((p) => p.status === 429);
    t.equal(metrics('loki_push_retries_total', { token: 'orders', reason: 'rate_limited' }), throttled.length, `each of ${throttled.length} 429s was retried, and counted`);
    t.equal(metrics('loki_push_requests_total', { token: 'orders', outcome: 'retryable', status_class: '4xx' }), throttled.length);
    // The stand-in notes a push when it has answered it: the next one can only come after Retry-After.
    const gaps = pushes.flatMap((p, i) => {
      const next = pushes[i + 1];
      return i >= firstWithHeader && p.status === 429 && next ? [next.atMs - p.atMs] : [];
    });
    t.ok(gaps.length > 0 && gaps.every((ms) => ms >= 990), `each push after a 429 with Retry-After: 1 came at least 1 s later (${gaps.join(', ')} ms)`);
  });

  t.test('a slow Loki (1–2 s per push) within the request timeout: waited for, not retried', async (t) => {
    const r = await rig(t);
    const slow = () => onOrders(r, lokiAnswers.accept(1000 + Math.floor(Math.random() * 1000)))();
    let answered = 0;
    const metrics = await underFault(t, r, {
      fault: slow,
      lift: onOrders(r, null),
      enough: () => {
        // A new delay for each push.
        if (pushesOf(r.loki, 'orders').length > answered) slow();
        answered = pushesOf(r.loki, 'orders').length;
        return answered >= 2;
      },
    });
    t.equal(metrics('loki_push_retries_total', { token: 'orders' }), 0, 'no slow push was retried');
    t.equal(r.loki.duplicatesReceived, 0, 'so none was sent twice');
  });

  t.test('pushes that hang past the request timeout are retried, and the token is not wedged', async (t) => {
    const r = await rig(t, { timeout_seconds: HANG_TIMEOUT_SECONDS });
    const metrics = await underFault(t, r, {
      fault: onOrders(r, lokiAnswers.hang()),
      lift: onOrders(r, null),
      enough: () => pushesOf(r.loki, 'orders', (p) => p.answer === 'hang').length >= 2,
    });
    const hangs = pushesOf(r.loki, 'orders', (p) => p.answer === 'hang').length;
    t.equal(metrics('loki_push_retries_total', { token: 'orders', reason: 'timeout' }), hangs, `each of ${hangs} hung pushes timed out and was retried`);
    t.equal(metrics('loki_push_requests_total', { token: 'orders', outcome: 'retryable', status_class: 'none' }), hangs);
  });

  t.test('connections reset by Loki are retried', async (t) => {
    const r = await rig(t);
    const metrics = await underFault(t, r, {
      fault: onOrders(r, lokiAnswers.reset()),
      lift: onOrders(r, null),
      enough: () => pushesOf(r.loki, 'orders', (p) => p.answer === 'reset').length >= 3,
    });
    const resets = pushesOf(r.loki, 'orders', (p) => p.answer === 'reset').length;
    t.equal(metrics('loki_push_retries_total', { token: 'orders', reason: 'network' }), resets, `each of ${resets} resets was retried`);
  });

  t.test('an unexpected 260 is not taken as success', async (t) => {
    const r = await rig(t);
    const metrics = await underFault(t, r, {
      fault: onOrders(r, lokiAnswers.unexpected2xx(260)),
      lift: onOrders(r, null),
      enough: () => pushesOf(r.loki, 'orders', (p) => p.status === 260).length >= 3,
    });
    const odd = pushesOf(r.loki, 'orders', (p) => p.status === 260).length;
    t.equal(metrics('loki_push_retries_total', { token: 'orders', reason: 'unexpected_status' }), odd, `each of ${odd} 260s was retried`);
    t.equal(metrics('loki_push_requests_total', { token: 'orders', outcome: 'success' }), pushesOf(r.loki, 'orders', (p) => p.status === 204).length, 'only 204s count as success');
  });

  t.test('413 above a body size: batches are split until they pass', async (t) => {
    const r = await rig(t);
    const limit = 8 * 1024;
    const metrics = await underFault(t, r, {
      fault: () => r.loki.setMaxBodyBytes(limit),
      // The limit stays: the backlog must get through it.
      lift: () => {},
      enough: () => pushesOf(r.loki, 'orders', (p) => p.status === 413).length >= 2,
      ordersLineBytes: 600,
      ordersPerPost: 30,
    });
    for (const name of ['orders', 'billing'] as const) {
      const tooLarge = pushesOf(r.loki, name, (p) => p.status === 413).length;
      t.equal(metrics('loki_push_requests_total', { token: name, outcome: 'split' }), tooLarge, `${name}: each of ${tooLarge} 413s split its batch`);
    }
    t.ok(r.loki.pushes.filter((p) => p.status === 204).every((p) => p.bodyBytes <= limit), 'every push stored was under the limit');
  });
});

// --- 3. partial 400s ------------------------------------------------------------------------------

t.test('pushes Loki refuses with 400 are dead letters, exactly those, counted by reason, and a replay delivers them', async (t) => {
  const r = await rig(t, { batch_max_entries: 15 });
  const tooOld = lokiAnswers.timestampTooOld(streamOf('orders'));
  // Loki's own text for a line over its max_line_size (pkg/validation, LineTooLongErrorMsg).
  const lineTooLong = lokiAnswers.status(400, `Max entry size '256' bytes exceeded for stream '${streamOf('orders')}' while adding an entry with length '300' bytes`);
  const accept = lokiAnswers.accept();
  const script = [accept, tooOld, accept, tooOld, lineTooLong, tooOld, accept, tooOld, tooOld, accept, tooOld];
  r.loki.answerNext(script, { tenant: KEYS.orders.tenant });
  const orders = r.client('orders');
  const billing = r.client('billing');
  // 200 entries in batches of at most 15: more pushes than the script has answers.
  for (let i = 0; i < 10; i++) {
    await Promise.all([orders.post(20), billing.post(20)]);
    await sleep(15);
  }
  t.equal((await r.flush()).status, 200);

  const refused = pushesOf(r.loki, 'orders', (p) => p.status === 400);
  t.equal(refused.length, 7, 'all seven scripted 400s were answered');
  const acc = await account(r, [orders, billing]);
  assertAccounted(t, acc);
  const refusedCount = refusedIds(r.loki, 'orders').size;
  t.equal(acc.deadLetters, refusedCount, `the ${refusedCount} refused entries, no more, no fewer, are dead letters`);
  t.equal((await deadLettersOnDisk(r.root, 'billing')).size, 0, 'billing has none');

  // One push of a lane at a time: the orders tenant's pushes took the script in order.
  const reasonOf = (i: number) => (i === 4 ? 'line_too_long' : 'timestamp_too_old');
  const expected: Record<string, number> = {};
  for (const [i, p] of pushesOf(r.loki, 'orders').slice(0, script.length).entries()) {
    if (p.status === 400) expected[reasonOf(i)] = (expected[reasonOf(i)] ?? 0) + p.notStored.length;
  }
  const listed = await r.admin('GET', '/v1/admin/dead-letters');
  t.match(listed.json.tokens.orders, { entries: refusedCount }, '/v1/admin/dead-letters lists them');
  t.equal(listed.json.tokens.orders.batches, refused.length, `and counts the ${refused.length} refused batches (says ${listed.json.tokens.orders.batches})`);
  t.equal(listed.json.tokens.billing.entries, 0);
  const m = await r.metrics();
  t.equal(m('logs_dead_lettered_total', { token: 'orders' }), refusedCount, 'logs_dead_lettered_total counts them');
  t.equal(m('loki_push_requests_total', { token: 'orders', outcome: 'rejected', status_class: '4xx' }), refused.length);
  t.equal(m('loki_push_retries_total', { token: 'orders' }), 0, 'a 400 is not retried');
  // Loki's line-too-long text must be told apart from other 400s.
  for (const [reason, entries] of Object.entries(expected)) {
    t.equal(m('logs_dead_lettered_total', { token: 'orders', reason }), entries, `logs_dead_lettered_total{reason="${reason}"}`);
  }
  t.same(listed.json.tokens.orders.reasons, expected, 'the dead-letter listing counts the same reasons');

  const replay = await r.admin('POST', '/v1/admin/dead-letters:replay');
  t.same(replay.json, { replayed: { orders: refusedCount, billing: 0 } });
  t.equal((await r.flush()).status, 200);
  t.ok(delivered(r.loki, orders) && delivered(r.loki, billing), 'after the replay every acknowledged entry is at Loki');
  t.equal((await deadLettersOnDisk(r.root, 'orders')).size, 0, 'and the dead-letter files are gone');
  t.equal((await r.admin('GET', '/v1/admin/dead-letters')).json.tokens.orders.entries, 0);
  t.equal(r.loki.duplicatesReceived, 0, 'a replayed entry was not already at Loki');
  assertNoInternalErrors(t, r);
});

// --- 4. a mixed storm -----------------------------------------------------------------------------

const STORM_MS = 2500;
const BODY_LIMIT = 6 * 1024;

/** Loki's next behaviour during the storm: an answer, a body size limit (413), or no listener. */
interface StormFault {
  readonly kind: string;
  readonly answer?: StandInAnswer;
  readonly maxBodyBytes?: number;
  readonly refuseConnections?: boolean;
}

function stormFault(): StormFault {
  const kinds: Array<() => StormFault> = [
    () => ({ kind: 'accept' }),
    () => ({ kind: 'slow', answer: lokiAnswers.accept(200 + Math.floor(Math.random() * 1300)) }),
    () => ({ kind: '500', answer: lokiAnswers.serverError() }),
    () => ({ kind: '503', answer: lokiAnswers.unavailable() }),
    () => ({ kind: '429', answer: lokiAnswers.rateLimited('any') }),
    () => ({ kind: '429+retry-after', answer: lokiAnswers.rateLimited('any', Math.floor(Math.random() * 2)) }),
    () => ({ kind: 'hang', answer: lokiAnswers.hang() }),
    () => ({ kind: 'reset', answer: lokiAnswers.reset() }),
    () => ({ kind: 'refused', refuseConnections: true }),
    () => ({ kind: '260', answer: lokiAnswers.unexpected2xx(260) }),
    () => ({ kind: '400', answer: lokiAnswers.timestampTooOld('{service="any"}') }),
    () => ({ kind: '413', maxBodyBytes: BODY_LIMIT }),
  ];
  return kinds[Math.floor(Math.random() * kinds.length)]!();
}

t.test('a mixed storm on both tenants: nothing lost, dead letters exactly the 400s', async (t) => {
  // Small batches: more pushes, so more answers from the storm.
  const r = await rig(t, { batch_max_entries: 100, timeout_seconds: HANG_TIMEOUT_SECONDS });
  const clients = [r.client('orders', 'a'), r.client('orders', 'b'), r.client('billing', 'a'), r.client('billing', 'b')];
  const windows: Record<string, number> = {};
  const end = Date.now() + STORM_MS;
  const storm = (async () => {
    while (Date.now() < end) {
      const f = stormFault();
      windows[f.kind] = (windows[f.kind] ?? 0) + 1;
      r.loki.setStandingAnswer(f.answer ?? null);
      r.loki.setMaxBodyBytes(f.maxBodyBytes ?? null);
      if (f.refuseConnections) r.gate.refuse();
      else await r.gate.open();
      await sleep(20 + Math.random() * 40);
    }
    r.loki.setStandingAnswer(null);
    r.loki.setMaxBodyBytes(null);
    await r.gate.open();
  })();
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < end) {
        await c.post(1 + Math.floor(Math.random() * 30), 50 + Math.floor(Math.random() * 400));
        await sleep(Math.random() * 30);
      }
    }),
  );
  await storm;
  const flushed = await r.flush(30);
  t.equal(flushed.status, 200, 'everything is delivered after the storm');

  const acc = await account(r, clients);
  assertAccounted(t, acc);
  const answers: Record<string, number> = {};
  for (const c of clients) for (const [kind, n] of c.answers) answers[kind] = (answers[kind] ?? 0) + n;
  t.same(Object.keys(answers).filter((kind) => kind !== '202' && kind !== '429 wal_quota_exceeded'), [], 'ingest answered 202, or 429 when a backlog was full');
  assertNoInternalErrors(t, r);

  const faults: Record<string, number> = {};
  for (const p of r.loki.pushes) {
    const kind = p.answer === 'hang' || p.answer === 'reset' ? p.answer : p.status === 204 ? null : String(p.status);
    if (kind !== null) faults[kind] = (faults[kind] ?? 0) + 1;
  }
  const m = await r.metrics();
  const total = (name: string, labels: Record<string, string>) => m(name, { token: 'orders', ...labels }) + m(name, { token: 'billing', ...labels });
  t.equal(total('logs_dead_lettered_total', {}), acc.deadLetters, 'logs_dead_lettered_total counts the dead letters');
  // A slow accept checks the body limit when its delay is over, by then perhaps after the push timed out.
  t.ok(total('loki_push_requests_total', { outcome: 'split' }) <= (faults['413'] ?? 0), 'a batch was split only on a 413');
  t.equal(total('loki_push_requests_total', { outcome: 'rejected' }), faults['400'] ?? 0, 'each 400 dead-lettered a batch');
  t.equal(total('loki_push_retries_total', { reason: 'rate_limited' }), faults['429'] ?? 0);
  t.equal(total('loki_push_retries_total', { reason: 'unexpected_status' }), faults['260'] ?? 0);
  t.equal(total('loki_push_retries_total', { reason: 'server_error' }), (faults['500'] ?? 0) + (faults['503'] ?? 0));
  // A slow answer may time out too; refused connections never reach the stand-in.
  t.ok(total('loki_push_retries_total', { reason: 'timeout' }) >= (faults.hang ?? 0), 'each hang timed out and was retried');
  t.ok(total('loki_push_retries_total', { reason: 'network' }) >= (faults.reset ?? 0), 'each reset was retried');
  t.comment(
    `storm: ingest answers ${JSON.stringify(answers)}; ${acc.acked} entries acknowledged, ${acc.lost.length} lost, ${r.loki.duplicatesReceived} duplicates, ${acc.deadLetters} dead letters, ` +
      `${r.loki.pushes.length} pushes, ${total('loki_push_retries_total', { reason: 'network' })} network failures; faults answered ${JSON.stringify(faults)}; windows ${JSON.stringify(windows)}`,
  );
});
