import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import type { DeliveryRequest } from '../../src/forwarder/batch-delivery.js';
import { createDeliveryThread, spawnWorker, type DeliveryThreadHandle } from '../../src/forwarder/delivery-thread.js';
import { formatLabels, type LokiEntry } from '../../src/loki/entry.js';
import { segmentFileName } from '../../src/wal/segment-format.js';
import type { WalStore } from '../../src/wal/types.js';
import { testConfig } from '../support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from '../support/loki-stand-in.js';
import { lokiBatch, openWal } from '../support/wal.js';

const SECONDS = Math.floor(Date.now() / 1000) - 60;

function entry(i: number): LokiEntry {
  return {
    seconds: SECONDS,
    nanos: i * 1000 + 7,
    labels: formatLabels({ service: 'checkout', env: 'test' }),
    line: `line ${i} ${'·'.repeat(40)}`,
    structuredMetadata: [['order_id', `O-${i}`]],
  };
}

interface Rig {
  loki: LokiStandIn;
  wal: WalStore;
  thread: DeliveryThreadHandle;
  request(overrides?: Partial<DeliveryRequest>): DeliveryRequest;
}

// One thread for the tests that keep it running: a start compiles the thread's sources anew.
const shared = await (async () => {
  const loki = createLokiStandIn();
  await loki.start();
  const thread = createDeliveryThread(testConfig({ loki: { base_url: loki.url } }).loki, 'test');
  await thread.start();
  t.teardown(async () => {
    await thread.close();
    await loki.close();
  });
  return { loki, thread };
})();

async function rig(t: Test, own: { thread: DeliveryThreadHandle; loki: LokiStandIn } = shared): Promise<Rig> {
  own.loki.reset();
  const root = await mkdtemp(join(tmpdir(), 'logstack-delivery-thread-'));
  const wal = await openWal(root, { tokens: ['alpha'], segmentMaxBytes: 8 * 1024 });
  t.teardown(async () => {
    await wal.close();
    await rm(root, { recursive: true, force: true });
  });
  const alpha = wal.token('alpha');
  return {
    ...own,
    wal,
    request: (overrides = {}) => ({
      plan: alpha.planRead(alpha.cursor, alpha.cursorAfterSeq),
      tenant: 'team-a',
      maxEntries: 1000,
      maxBytes: 512 * 1024,
      maxWaitMs: 60_000,
      flushing: true,
      nowMs: Date.now(),
      ...overrides,
    }),
  };
}

t.test('the thread reads across segments, pushes, and says where the batch ended', async (t) => {
  const r = await rig(t);
  const alpha = r.wal.token('alpha');
  for (let i = 0; i < 300; i += 50) await alpha.append(lokiBatch(Array.from({ length: 50 }, (_, k) => entry(i + k))));
  t.ok(alpha.stats().segments > 2, 'the entries span several segments');

  const result = await r.thread.deliver(r.request());
  t.match(result, { kind: 'pushed', entries: 300, lastSeq: 300, attempt: { outcome: { kind: 'success', status: 204 } } });
  t.same(result.kind === 'pushed' ? result.next : null, alpha.durableEnd, 'the batch ends at the durable end');
  const received = r.loki.received('team-a');
  t.equal(received.length, 300);
  t.same(received.map((e) => e.structuredMetadata.order_id), Array.from({ length: 300 }, (_, i) => `O-${i}`), 'in WAL order');
  t.equal(result.kind === 'pushed' ? result.appendedAtMs.length : 0, 300, 'an append time per entry, for the delivery latency');
});

t.test('a partial, young batch is held unless a flush asks for it; nothing past the durable end is read', async (t) => {
  const r = await rig(t);
  t.match(await r.thread.deliver(r.request()), { kind: 'idle' }, 'an empty WAL is idle');
  await r.wal.token('alpha').append(lokiBatch([entry(1)]));
  const held = await r.thread.deliver(r.request({ flushing: false }));
  t.match(held, { kind: 'hold' });
  t.ok(held.kind === 'hold' && held.holdMs > 59_000, 'held for about batch_max_wait_ms');
  t.equal(r.loki.pushes.length, 0, 'nothing was pushed');
  t.match(await r.thread.deliver(r.request()), { kind: 'pushed', entries: 1 });
});

t.test('entries Loki refuses come back byte for byte with their label sets, for the dead-letter store', async (t) => {
  const r = await rig(t);
  const alpha = r.wal.token('alpha');
  await alpha.append(lokiBatch(Array.from({ length: 40 }, (_, i) => entry(i))));
  r.loki.answerNext(lokiAnswers.timestampTooOld('{service="checkout"}'));
  const result = await r.thread.deliver(r.request());
  t.match(result, { kind: 'pushed', entries: 40, attempt: { outcome: { kind: 'rejected', status: 400 } } });
  const stored = (await alpha.read(alpha.cursor, { maxRecords: 1000, maxBytes: 1e9 })).records.map(({ labels, entry }) => ({ labels, entry }));
  t.same(result.kind === 'pushed' ? result.refused : null, stored);
  const accepted = await r.thread.deliver(r.request());
  t.match(accepted, { kind: 'pushed', attempt: { outcome: { kind: 'success' } } });
  t.notOk('refused' in accepted, 'an accepted batch carries no entries back');
});

t.test('a read that fails is an error for that request; the thread goes on serving', async (t) => {
  const r = await rig(t);
  await r.wal.token('alpha').append(lokiBatch([entry(1)]));
  const good = r.request();
  // A directory where the segment file should be: it opens, and reading it fails (EISDIR).
  const unreadable = t.testdir({ [segmentFileName(good.plan.start.segment)]: {} });
  await t.rejects(r.thread.deliver(r.request({ plan: { ...good.plan, dir: unreadable } })), { code: 'EISDIR' });
  t.match(await r.thread.deliver(good), { kind: 'pushed', entries: 1 });
});

t.test('a segment deleted by hand while running is skipped and its entries counted exactly; the rest is delivered', async (t) => {
  const r = await rig(t);
  const alpha = r.wal.token('alpha');
  for (let i = 0; i < 300; i += 50) await alpha.append(lokiBatch(Array.from({ length: 50 }, (_, k) => entry(i + k))));
  const plan = r.request().plan;
  const victim = plan.segments[1]!.segment;
  const inVictim = (await alpha.read({ segment: victim, offset: 0 }, { maxRecords: 1000, maxBytes: 1e9 })).records.filter((rec) => rec.position.segment === victim);
  await unlink(join(plan.dir, segmentFileName(victim)));

  const result = await r.thread.deliver(r.request());
  t.match(result, { kind: 'pushed', entries: 300 - inVictim.length, lastSeq: 300 });
  t.match(result.damage, [{ at: { segment: victim }, entries: inVictim.length, reason: `segment ${victim} is missing` }]);
  alpha.noteDamage(result.damage);
  alpha.noteDamage(result.damage);
  t.equal(alpha.stats().corruptRecords, inVictim.length, 'the loss shows in the WAL stats (and so in the metrics), once');
  t.equal(r.loki.received().length, 300 - inVictim.length);
});

t.test('a thread that cannot start fails the start with the reason', async (t) => {
  const thread = createDeliveryThread(
    testConfig({ loki: { base_url: 'https://loki.invalid', tls: { ca_file: '/nonexistent/ca.pem' } } }).loki,
    'test',
  );
  t.teardown(() => thread.close());
  await t.rejects(thread.start(), { message: /Cannot read configuration file \/nonexistent\/ca\.pem/ });
});

t.test('after close, requests are refused rather than lost in a dead thread', async (t) => {
  const thread = createDeliveryThread(testConfig({ loki: { base_url: shared.loki.url } }).loki, 'test');
  await thread.start();
  const r = await rig(t, { thread, loki: shared.loki });
  await r.thread.close();
  await t.rejects(r.thread.deliver(r.request()), { code: 'LOGSTACK_ERR_DELIVERY_THREAD_EXITED' });
});

t.test("the readiness probe's GET goes through the thread's pool, answer or failure", async (t) => {
  const { loki, thread } = shared;
  loki.reset();
  t.same(await thread.get('/ready', 1000), { status: 200, body: 'ready' });
  loki.setReady('not-ready');
  t.equal((await thread.get('/ready', 1000)).status, 503);
  loki.setReady('hang');
  await t.rejects(thread.get('/ready', 200), /within 200 ms/);
  loki.reset();

  const down = createDeliveryThread(testConfig({ loki: { base_url: 'http://127.0.0.1:9' } }).loki, 'test');
  await down.start();
  t.teardown(() => down.close());
  await t.rejects(down.get('/ready', 1000), /ECONNREFUSED/);
  await down.close();
  await t.rejects(down.get('/ready', 1000), { code: 'DELIVERY_THREAD_EXITED' });
});

/**
 * The real delivery thread, with each Worker it starts kept so that a test can end one, or make
 * one stop answering (`deaf`: messages to it are dropped, as by a thread stuck in a loop).
 */
async function keptThreads(t: Test) {
  const workers: Array<{ worker: Worker; deaf: boolean }> = [];
  const thread = createDeliveryThread(testConfig({ loki: { base_url: shared.loki.url } }).loki, 'test', (data) => {
    const worker = spawnWorker(data);
    const kept = { worker, deaf: false };
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (...args) => {
      if (!kept.deaf) post(...args);
    };
    workers.push(kept);
    return worker;
  });
  await thread.start();
  t.teardown(async () => {
    for (const kept of workers) kept.deaf = false;
    await thread.close();
  });
  return { thread, workers };
}

t.test('a thread that dies fails the requests in flight, and the next request starts a new one', async (t) => {
  const { thread, workers } = await keptThreads(t);
  const r = await rig(t, { thread, loki: shared.loki });
  await r.wal.token('alpha').append(lokiBatch(Array.from({ length: 20 }, (_, i) => entry(i))));

  shared.loki.setReady('hang');
  const inFlight = thread.get('/ready', 10_000);
  await workers[0]!.worker.terminate();
  await t.rejects(inFlight, { code: 'LOGSTACK_ERR_DELIVERY_THREAD_EXITED', message: /exit code 1/ }, 'failed at once, not left to its timeout');
  shared.loki.reset();

  const result = await thread.deliver(r.request());
  t.equal(workers.length, 2, 'a new thread');
  t.match(result, { kind: 'pushed', entries: 20, lastSeq: 20 });
  t.equal(shared.loki.received('team-a').length, 20, 'the new thread delivers');
  t.same(await thread.get('/ready', 1000), { status: 200, body: 'ready' }, 'and answers the probe');
});

t.test('a thread alive but not answering does not hang the probe: its GET fails a second after its timeout', async (t) => {
  const { thread, workers } = await keptThreads(t);
  workers[0]!.deaf = true;
  await t.rejects(thread.get('/ready', 200), /the delivery thread did not answer within 1200 ms/);
  workers[0]!.deaf = false;
  t.same(await thread.get('/ready', 1000), { status: 200, body: 'ready' }, 'the same thread answers again once it does');
  t.equal(workers.length, 1);
});
