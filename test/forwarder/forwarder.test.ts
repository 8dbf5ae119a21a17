import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Config } from '../../src/config/schema.js';
import { Forwarder, type ForwarderObserver, type LaneHealth } from '../../src/forwarder/forwarder.js';
import { createBatchDelivery, type BatchDelivery, type DeliveryResult } from '../../src/forwarder/batch-delivery.js';
import { createLokiClient } from '../../src/forwarder/loki-client.js';
import { formatLabels, type LokiEntry } from '../../src/loki/entry.js';
import { tokenDirName } from '../../src/wal/token-dir.js';
import type { WalStore } from '../../src/wal/types.js';
import { testConfig } from '../support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from '../support/loki-stand-in.js';
import { lokiBatch, openWal } from '../support/wal.js';

const BASE_SECONDS = Math.floor(Date.now() / 1000) - 60;

function entry(token: string, i: number, lineSize = 60, filler = '·'.repeat(lineSize)): LokiEntry {
  return {
    seconds: BASE_SECONDS + Math.floor(i / 1000),
    nanos: (i % 1000) * 1_000_000 + 123,
    labels: formatLabels({ service: token, env: 'test', level: 'INFO' }),
    line: `${token} line ${i} ${filler}`,
    structuredMetadata: [['order_id', `O-${i}`]],
  };
}

/** Resolves once `condition` holds (checked every 10 ms), or rejects after `timeoutMs`. */
async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Rig {
  loki: LokiStandIn;
  wal: WalStore;
  forwarder: Forwarder;
  health: Array<{ token: string; to: LaneHealth; detail: string }>;
  deadLettered: Array<{ token: string; reason: string; entries: number }>;
  /** When each push was answered (ms). */
  pushedAt: number[];
  append(token: string, from: number, count: number, lineSize?: number): Promise<void>;
}

async function rig(
  t: Test,
  loki: Partial<Config['loki']> = {},
  tenants: Record<string, string> = {},
  clock?: () => number,
  /** Stands between the forwarder and the real delivery step. */
  wrap: (delivery: BatchDelivery) => Pick<BatchDelivery, 'deliver'> = (d) => d,
): Promise<Rig> {
  const standIn = createLokiStandIn();
  await standIn.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-forwarder-'));
  const wal = await openWal(root, { tokens: ['alpha', 'beta'], segmentMaxBytes: 256 * 1024 });
  const config = testConfig({
    loki: { base_url: standIn.url, backoff_initial_ms: 10, backoff_max_ms: 200, batch_max_wait_ms: 20, timeout_seconds: 2, ...loki },
  }).loki;
  const delivery = createBatchDelivery({ client: createLokiClient(config, { version: 'test' }), loki: config });
  const health: Rig['health'] = [];
  const deadLettered: Rig['deadLettered'] = [];
  const pushedAt: number[] = [];
  const observer: ForwarderObserver = {
    pushed: () => void pushedAt.push(Date.now()),
    healthChanged: (token, _from, to, detail) => void health.push({ token, to, detail }),
    deadLettered: (token, reason, entries) => void deadLettered.push({ token, reason, entries }),
  };
  const forwarder = new Forwarder({
    wal,
    delivery: wrap(delivery),
    loki: config,
    tenantOf: (name) => tenants[name],
    deadLetterDir: (name) => join(root, tokenDirName(name), 'dead-letter'),
    observer,
    ...(clock ? { clock } : {}),
  });
  t.teardown(async () => {
    await forwarder.stop(0);
    await delivery.close();
    await wal.close();
    await standIn.close();
    await rm(root, { recursive: true, force: true });
  });
  return {
    loki: standIn,
    wal,
    forwarder,
    health,
    deadLettered,
    pushedAt,
    async append(token, from, count, lineSize) {
      for (let i = from; i < from + count; i += 500) {
        const n = Math.min(500, from + count - i);
        await wal.token(token).append(lokiBatch(Array.from({ length: n }, (_, k) => entry(token, i + k, lineSize))));
      }
    },
  };
}

t.test('delivers every entry exactly as stored: ns timestamps, labels, line, structured metadata, tenant', async (t) => {
  const r = await rig(t, {}, { alpha: 'team-a' });
  await r.append('alpha', 0, 1200);
  await r.append('beta', 0, 300);
  await r.forwarder.start();
  await r.loki.waitFor(1500, 10_000);
  const a = r.loki.received('team-a');
  t.equal(a.length, 1200, 'alpha under its tenant');
  t.equal(r.loki.received(null).length, 300, 'beta without X-Scope-OrgID');
  const sample = a.find((e) => e.line.startsWith('alpha line 1001 '))!;
  t.same(sample.labels, { env: 'test', level: 'INFO', service: 'alpha' });
  t.equal(sample.tsNs, `${BASE_SECONDS + 1}${String(1_000_000 + 123).padStart(9, '0')}`);
  t.same(sample.structuredMetadata, { order_id: 'O-1001' });
  t.same(
    a.map((e) => Number(/line (\d+)/.exec(e.line)![1])),
    Array.from({ length: 1200 }, (_, i) => i),
    'order kept within the token',
  );
  t.ok(r.loki.pushes.every((p) => p.encoding === 'protobuf' && p.contentEncoding === null), 'protobuf + snappy by default');
  await t.resolveMatch(r.forwarder.flush({ wait: true, timeoutMs: 5000 }), { complete: true });
  t.equal(r.wal.token('alpha').stats().pendingEntries, 0);
});

t.test('the JSON encoding delivers the same entries, gzip-compressed', async (t) => {
  const r = await rig(t, { encoding: 'json' });
  await r.append('alpha', 0, 50);
  await r.forwarder.start();
  await r.loki.waitFor(50);
  t.ok(r.loki.pushes.every((p) => p.encoding === 'json' && p.contentEncoding === 'gzip'));
  t.same(r.loki.received()[7]!.structuredMetadata, { order_id: 'O-7' });
});

t.test('segment files are deleted once delivered', async (t) => {
  const r = await rig(t);
  await r.append('alpha', 0, 5000, 200);
  const dir = join(r.wal.root, 'alpha');
  t.ok((await readdir(dir)).filter((n) => n.endsWith('.wal')).length > 3);
  await r.forwarder.start();
  await r.loki.waitFor(5000, 15_000);
  await r.forwarder.flush({ wait: true, timeoutMs: 5000 });
  t.same((await readdir(dir)).filter((n) => n.endsWith('.wal')).length, 1, 'only the new active segment is left');
});

t.test('5xx, resets, timeouts, 429 and 260 are retried until Loki takes the batch; nothing is lost', async (t) => {
  const r = await rig(t, { timeout_seconds: 0.3 });
  r.loki.answerNext([
    lokiAnswers.serverError(),
    lokiAnswers.unavailable(),
    lokiAnswers.reset(),
    lokiAnswers.hang(),
    lokiAnswers.rateLimited('fake'),
    lokiAnswers.unexpected2xx(260),
  ]);
  await r.append('alpha', 0, 100);
  await r.forwarder.start();
  await r.loki.waitFor(100, 15_000);
  await r.forwarder.flush({ wait: true, timeoutMs: 5000 });
  t.equal(r.loki.received().length, 100);
  t.same(r.loki.pushes.slice(0, 7).map((p) => p.status), [500, 503, null, null, 429, 260, 204]);
  t.ok(r.health.some((h) => h.to === 'retrying'), 'reported as retrying');
  t.equal(r.health.at(-1)?.to, 'ok', 'and back to ok');
  t.equal(r.forwarder.status()[0]!.lastPush?.result, 'success');
});

t.test("Retry-After is honoured: the next push waits at least that long", async (t) => {
  const r = await rig(t);
  r.loki.answerNext(lokiAnswers.rateLimited('fake', 1));
  await r.append('alpha', 0, 10);
  await r.forwarder.start();
  await r.loki.waitFor(10, 10_000);
  await r.forwarder.flush({ wait: true, timeoutMs: 5000 });
  const [first, second] = r.pushedAt;
  t.ok(second! - first! >= 950, `second push answered ${second! - first!} ms after the 429`);
});

t.test('a 400 sends the batch to the dead-letter store, moves on, and a replay delivers it later', async (t) => {
  const r = await rig(t);
  r.loki.answerNext(lokiAnswers.timestampTooOld('{service="alpha"}'));
  await r.append('alpha', 0, 20);
  await r.forwarder.start();
  await r.forwarder.flush({ wait: true, timeoutMs: 5000 });
  await r.append('alpha', 20, 5);
  await r.loki.waitFor(5);
  t.same(r.deadLettered, [{ token: 'alpha', reason: 'timestamp_too_old', entries: 20 }]);
  const summary = (await r.forwarder.deadLetters()).alpha!;
  t.equal(summary.entries, 20);
  t.same(summary.reasons, { timestamp_too_old: 20 });
  t.match(summary.samples[0], { status: 400, reason: 'timestamp_too_old', message: /timestamp too old/, first: { line: /^alpha line 0 / } });
  t.equal(r.forwarder.status()[0]!.deadLetters, 20);

  t.same(await r.forwarder.replayDeadLetters('alpha'), { alpha: 20 });
  await r.loki.waitFor(25);
  t.equal((await r.forwarder.deadLetters()).alpha!.entries, 0, 'replayed dead letters are gone from the store');
});

t.test('413 halves the batch until Loki takes it; a single entry too large for Loki is dead-lettered', async (t) => {
  const r = await rig(t, { batch_max_entries: 400 });
  r.loki.setMaxBodyBytes(3000);
  await r.append('alpha', 0, 400);
  // Random bytes: snappy must not be able to shrink it under Loki's limit.
  await r.wal.token('alpha').append(lokiBatch([entry('alpha', 400, 0, randomBytes(15_000).toString('base64'))]));
  await r.forwarder.start();
  await r.loki.waitFor(400, 15_000);
  await r.forwarder.flush({ wait: true, timeoutMs: 5000 });
  await eventually(() => r.deadLettered.length > 0);
  t.ok(r.loki.pushes.some((p) => p.status === 413), 'Loki refused the large batches');
  t.equal(r.loki.received().length, 400, 'every entry that fits arrived');
  t.same(r.deadLettered, [{ token: 'alpha', reason: 'too_large', entries: 1 }]);
});

t.test('401/403/404 pause the token and keep its data until Loki takes it', async (t) => {
  const r = await rig(t, { backoff_max_ms: 100 });
  r.loki.setStandingAnswer(lokiAnswers.unauthorized());
  await r.append('alpha', 0, 10);
  await r.forwarder.start();
  await r.loki.waitFor((l) => l.pushes.length >= 2);
  t.equal(r.forwarder.status()[0]!.health, 'paused');
  t.match(r.health.find((h) => h.to === 'paused')?.detail, /401/);
  t.equal(r.wal.token('alpha').stats().pendingEntries, 10, 'nothing acknowledged, nothing dropped');
  r.loki.setStandingAnswer(null);
  await r.loki.waitFor(10);
  t.equal(r.deadLettered.length, 0);
});

t.test('a token with a huge backlog does not hold back another token', async (t) => {
  const r = await rig(t, { concurrency: 1, batch_max_entries: 1000 });
  await r.append('alpha', 0, 30_000);
  await r.append('beta', 0, 1);
  await r.forwarder.start();
  await r.loki.waitFor((l) => l.received().some((e) => e.labels.service === 'beta'), 10_000);
  const firstBeta = r.loki.pushes.findIndex((p) => p.stored > 0 && r.loki.received().some((e) => e.labels.service === 'beta'));
  t.ok(firstBeta >= 0 && firstBeta <= 2, `beta's entry went out in push #${firstBeta + 1}`);
});

t.test("one tenant throttled by Loki does not slow another tenant", async (t) => {
  const r = await rig(t, { concurrency: 1 }, { alpha: 'throttled', beta: 'fine' });
  r.loki.setStandingAnswer(lokiAnswers.rateLimited('throttled'), { tenant: 'throttled' });
  await r.append('alpha', 0, 100);
  await r.append('beta', 0, 3000);
  await r.forwarder.start();
  await r.loki.waitFor(3000, 10_000);
  t.equal(r.loki.received('fine').length, 3000);
  t.equal(r.wal.token('alpha').stats().pendingEntries, 100, 'the throttled token keeps its data');
  // Its first refused push may still be on its way when beta's last entry lands.
  const alphaHealth = () => r.forwarder.status().find((s) => s.token === 'alpha')!.health;
  for (const until = Date.now() + 10_000; alphaHealth() === 'ok' && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 20));
  t.not(alphaHealth(), 'ok', 'the throttled token is reported as not ok');
});

t.test('stop never moves a cursor for a push that failed', async (t) => {
  const r = await rig(t);
  r.loki.setStandingAnswer(lokiAnswers.serverError());
  await r.append('alpha', 0, 10);
  await r.forwarder.start();
  await r.loki.waitFor((l) => l.pushes.length >= 1);
  await r.forwarder.stop(100);
  t.equal(r.forwarder.state, 'stopped');
  t.equal(r.wal.token('alpha').stats().ackedSeq, 0);
  t.equal(r.loki.received().length, 0);
});

t.test('flush with wait reports per token, bounded by its timeout when Loki is down', async (t) => {
  const r = await rig(t);
  r.loki.setStandingAnswer(lokiAnswers.unavailable());
  await r.append('alpha', 0, 10);
  await r.forwarder.start();
  const report = await r.forwarder.flush({ wait: true, timeoutMs: 300 });
  t.equal(report.complete, false);
  t.match(report.tokens.alpha, { targetSeq: 10, ackedSeq: 0, delivered: false });
  t.match(report.tokens.beta, { delivered: true });
});

t.test('time spent idle is not a stall: new work after a long quiet spell does not fail readiness', async (t) => {
  let skew = 0;
  const r = await rig(t, {}, {}, () => Date.now() + skew);
  await r.forwarder.start();
  await new Promise((res) => setTimeout(res, 50));
  skew += 10 * 60_000;
  r.loki.answerNext(lokiAnswers.accept(300));
  await r.append('alpha', 0, 1);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(r.loki.received().length, 0, 'the push is still in flight');
  t.ok(r.forwarder.stalledMs() < 1000, `the stall clock started when the work arrived (${r.forwarder.stalledMs()} ms)`);
  skew += 5000;
  t.ok(r.forwarder.stalledMs() >= 5000, 'and counts from there');
  await r.loki.waitFor(1);
});

t.test('a flush that comes while a partial batch is being read sends it, instead of the batch being held', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const asked: boolean[] = [];
  const r = await rig(t, { batch_max_wait_ms: 60_000 }, {}, undefined, (delivery) => ({
    async deliver(request): Promise<DeliveryResult> {
      if (!request.plan.dir.endsWith(tokenDirName('alpha'))) return delivery.deliver(request);
      asked.push(request.flushing);
      const result = await delivery.deliver(request);
      if (asked.length === 1) await gate;
      return result;
    },
  }));
  await r.append('alpha', 0, 1);
  await r.forwarder.start();
  await eventually(() => asked.length === 1);
  const flushed = r.forwarder.flush({ wait: true, timeoutMs: 3000 });
  // The flush has sealed the segment and, a step later, asked every lane to send now. Only
  // then does the first answer arrive, computed before the flush: hold the batch for a minute.
  await eventually(() => r.wal.token('alpha').stats().segments === 2);
  await new Promise((resolve) => setTimeout(resolve, 0));
  release();
  await t.resolveMatch(flushed, { complete: true });
  t.same(asked.slice(0, 2), [false, true], 'asked again at once, as a flush');
  t.equal(r.loki.received().length, 1);
});

t.test('a flush wait ends when its signal aborts, long before its timeout', async (t) => {
  const r = await rig(t);
  r.loki.setStandingAnswer(lokiAnswers.status(503));
  await r.append('alpha', 0, 10);
  await r.forwarder.start();
  const gone = new AbortController();
  const startedAt = Date.now();
  setTimeout(() => gone.abort(), 200);
  const report = await r.forwarder.flush({ wait: true, timeoutMs: 300_000, signal: gone.signal });
  t.equal(report.complete, false);
  t.ok(Date.now() - startedAt < 5000, `returned ${Date.now() - startedAt} ms after the call`);
});
