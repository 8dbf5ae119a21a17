/**
 * /readyz of the assembled service, each check failing for real and recovering: Loki down, the
 * WAL volume under its reserve (a tmpfs filled up; needs root to mount, skipped otherwise), the
 * WAL closed, and delivery stalled behind a Loki that takes longer than the stall bound.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { createLogger } from '../src/observability/logger.js';
import { LogstackService } from '../src/service.js';
import { testConfig } from './support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from './support/loki-stand-in.js';
import { mountTmpfs } from './support/tmpfs.js';

const TOKEN = 'tok_payments_0123456789abcdef';

interface Answer {
  status: number;
  json: any;
}

interface Running {
  service: LogstackService;
  loki: LokiStandIn;
  get(path: string): Promise<Answer>;
  ingest(): Promise<Answer>;
}

interface RunOptions {
  /** The WAL root; a temp dir removed afterwards by default. */
  root?: string;
  wal?: Record<string, unknown>;
  loki?: Record<string, unknown>;
  stallBoundMs?: number;
}

async function run(t: Test, options: RunOptions = {}): Promise<Running> {
  const loki = createLokiStandIn();
  await loki.start();
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'logstack-readiness-')));
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2 },
    security: { api_keys: { [TOKEN]: { name: 'payments-api', active: true } } },
    wal: { wal_root_path: root, lock_stale_seconds: 2, ...options.wal },
    loki: { base_url: loki.url, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 200, ready_check_interval_seconds: 1, ...options.loki },
  });
  const logger = createLogger({ level: 'fatal', destination: { write: () => {} } });
  const service = new LogstackService({ config, logger, version: 'test', ...(options.stallBoundMs === undefined ? {} : { stallBoundMs: options.stallBoundMs }) });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await loki.close();
    if (options.root === undefined) await rm(root, { recursive: true, force: true });
  });
  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() };
  };
  const entry = { timestamp: new Date().toISOString(), level: 'INFO', message: 'order created', service: 'shop', env: 'test' };
  return { service, loki, get: (path) => call('GET', path), ingest: () => call('POST', '/v1/logs:ingest', { entries: [entry] }) };
}

/** Polls `path` until its answer satisfies `wanted`; the checks refresh on their own clocks (about 1 s). */
async function until(r: Running, path: string, wanted: (answer: Answer) => boolean): Promise<Answer> {
  let answer = await r.get(path);
  for (let i = 0; i < 100 && !wanted(answer); i++) {
    await sleep(50);
    answer = await r.get(path);
  }
  return answer;
}

const ready = (a: Answer) => a.status === 200;
const failing = (check: string) => (a: Answer) => a.status === 503 && a.json.checks?.[check]?.ok === false;

t.test('Loki not ready: /readyz is 503 with Loki\'s answer, /readyz?exclude=loki stays 200, and both recover', async (t) => {
  const r = await run(t);
  t.same(Object.keys((await until(r, '/readyz', ready)).json.checks), ['wal', 'disk', 'loki', 'forwarder']);

  r.loki.setReady('not-ready');
  const down = await until(r, '/readyz', failing('loki'));
  t.equal(down.status, 503);
  t.match(down.json, { status: 'not_ready', checks: { loki: { ok: false, detail: /503: Ingester not ready/ }, wal: { ok: true }, disk: { ok: true }, forwarder: { ok: true } } });
  const withoutLoki = await r.get('/readyz?exclude=loki');
  t.match(withoutLoki, { status: 200, json: { status: 'ready', excluded: ['loki'] } });
  t.same(Object.keys(withoutLoki.json.checks), ['wal', 'disk', 'forwarder']);
  t.equal((await r.ingest()).status, 202, 'entries are still accepted, for later delivery');
  t.equal((await r.get('/healthz')).status, 200);

  r.loki.setReady('ready');
  t.match(await until(r, '/readyz', ready), { status: 200, json: { checks: { loki: { ok: true, detail: 'ready' } } } });
});

t.test('Loki gone: /readyz says it is unreachable', async (t) => {
  const r = await run(t);
  await until(r, '/readyz', ready);
  await r.loki.close();
  const down = await until(r, '/readyz', failing('loki'));
  t.match(down.json.checks.loki, { ok: false, detail: /^unreachable: / });
  t.equal((await r.get('/readyz?exclude=loki')).status, 200);
  t.equal((await r.get('/healthz')).status, 200);
});

t.test('/readyz asks Loki\'s /ready at most once per loki.ready_check_interval_seconds', async (t) => {
  const r = await run(t, { loki: { ready_check_interval_seconds: 3600 } });
  const probes = await Promise.all(Array.from({ length: 20 }, () => r.get('/readyz')));
  for (let i = 0; i < 30; i++) probes.push(await r.get('/readyz'));
  t.ok(probes.every(ready), '50 probes, all ready');
  t.equal(r.loki.readyChecks, 1, 'Loki was asked once, at start');
});

t.test('a closed WAL: /readyz is 503 on wal and disk until the service is restarted', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'logstack-readiness-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const first = await run(t, { root });
  await until(first, '/readyz', ready);
  await first.service.wal.close();
  const down = await first.get('/readyz');
  t.match(down, { status: 503, json: { checks: { wal: { ok: false, detail: 'the WAL is closed' }, disk: { ok: false, detail: 'the WAL is closed' } } } });
  t.match(await first.ingest(), { status: 503, json: { error: 'wal_unavailable' } }, 'ingest refuses as /readyz says');
  t.equal((await first.get('/healthz')).status, 200);
  await first.service.stop(0);

  const second = await run(t, { root });
  t.match(await until(second, '/readyz', ready), { status: 200, json: { checks: { wal: { ok: true, detail: 'open' } } } });
});

t.test('delivery stalled longer than the stall bound: /readyz, even without loki, is 503 until Loki answers', async (t) => {
  const r = await run(t, { stallBoundMs: 200 });
  await until(r, '/readyz', ready);
  r.loki.answerNext(lokiAnswers.accept(1500));
  t.equal((await r.ingest()).status, 202);

  const stalled = await until(r, '/readyz?exclude=loki', failing('forwarder'));
  t.match(stalled, { status: 503, json: { checks: { forwarder: { ok: false, detail: /^no push answered for \d+ s while there is work$/ } } } });
  t.equal((await r.get('/healthz')).status, 200);

  await r.loki.waitFor(1, 5000);
  t.match(await until(r, '/readyz?exclude=loki', ready), { status: 200, json: { checks: { forwarder: { ok: true } } } });
});

t.test('the WAL volume under its reserve: /readyz is 503 on disk while ingest refuses, and recovers when space returns', async (t) => {
  const tmpfs = mountTmpfs(8 << 20);
  if (tmpfs === null) {
    t.plan(0, 'filling a volume needs a tmpfs mounted (root); skipped here');
    return;
  }
  const mountPoint = tmpfs.path;
  t.teardown(() => tmpfs.unmount());
  const r = await run(t, { root: join(mountPoint, 'wal'), wal: { disk_reserve_percent: 50 } });
  await until(r, '/readyz', ready);

  const filler = join(mountPoint, 'filler');
  await writeFile(filler, Buffer.alloc(6 << 20));
  const full = await until(r, '/readyz', failing('disk'));
  t.match(full.json.checks, { disk: { ok: false, detail: /% free \(\d+ bytes\), reserve 50%$/ }, wal: { ok: true } });
  t.match(await r.ingest(), { status: 503, json: { error: 'disk_reserve_reached' } });
  t.equal((await r.get('/readyz?exclude=loki')).status, 503, 'a full disk is not excluded with Loki');
  t.equal((await r.get('/healthz')).status, 200);

  await rm(filler);
  t.match(await until(r, '/readyz', ready), { json: { checks: { disk: { ok: true } } } });
  t.equal((await r.ingest()).status, 202);
});

t.test('a cursor that cannot be written: /readyz is 503 on wal, naming the key and the errno, until a cursor write succeeds', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'logstack-readiness-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  // A folder where the cursor file's temp file would be made: making the file fails (EISDIR).
  await mkdir(join(root, 'payments-api', 'cursor.json.tmp'), { recursive: true });
  const r = await run(t, { root });
  const down = await until(r, '/readyz?exclude=loki', failing('wal'));
  t.match(down.json.checks.wal, { ok: false, detail: /^payments-api: the cursor file could not be made \(EISDIR\)$/ });
  t.equal((await r.ingest()).status, 202, 'entries are accepted and delivered all the same');
  await r.loki.waitFor(1, 5000);
  const stuck = await until(r, '/readyz?exclude=loki', (a) => /could not be written/.test(a.json.checks?.wal?.detail ?? ''));
  t.match(stuck.json.checks.wal, { ok: false, detail: /the cursor could not be written \(EISDIR\); delivered segments are kept until it can/ }, 'the cursor write after the push fails too');

  await rm(join(root, 'payments-api', 'cursor.json.tmp'), { recursive: true });
  t.equal((await r.ingest()).status, 202);
  t.match(await until(r, '/readyz?exclude=loki', ready), { status: 200, json: { checks: { wal: { ok: true } } } }, 'the next cursor write makes the file');
});
