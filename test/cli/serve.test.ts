import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { decodeEntryAdapter } from '../../src/loki/entry-codec.js';
import { spawnCli, type Child } from '../support/child.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from '../support/loki-stand-in.js';
import { freePort } from '../support/ports.js';
import { openWal } from '../support/wal.js';

const TOKEN = 'tok_cli_0123456789abcdefghij';
const ADMIN = 'adm_cli_0123456789abcdefghij';

interface Setup {
  dir: string;
  walRoot: string;
  configFile: string;
  url: string;
  loki: LokiStandIn;
  start(): Promise<Child>;
}

async function setup(t: Test, loki: Record<string, unknown> = {}): Promise<Setup> {
  const standIn = createLokiStandIn();
  await standIn.start();
  const dir = await mkdtemp(join(tmpdir(), 'logstack-cli-'));
  const port = await freePort();
  const walRoot = join(dir, 'wal');
  const configFile = join(dir, 'config.yaml');
  await writeFile(
    configFile,
    stringify({
      server: { host: '127.0.0.1', port, shutdown_timeout_seconds: 5 },
      security: { admin_token: ADMIN, api_keys: { [TOKEN]: { name: 'cli' } } },
      wal: { wal_root_path: walRoot, lock_stale_seconds: 2, segment_max_bytes: 65536 },
      loki: { base_url: standIn.url, batch_max_wait_ms: 5, backoff_initial_ms: 10, backoff_max_ms: 300, batch_max_entries: 200 },
    }),
  );
  const children: Child[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await standIn.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    walRoot,
    configFile,
    url: `http://127.0.0.1:${port}`,
    loki: standIn,
    async start() {
      const child = spawnCli(['serve', '--config', configFile]);
      children.push(child);
      await child.waitForLine(/LogStack is serving/);
      return child;
    },
  };
}

let counter = 0;
function batch(n: number): string {
  const ts = new Date().toISOString();
  return JSON.stringify({
    entries: Array.from({ length: n }, () => ({ timestamp: ts, level: 'INFO', message: `entry ${counter++}`, service: 'cli', env: 'test' })),
  });
}

async function ingest(url: string, n: number): Promise<{ status: number; ids: string[] }> {
  const body = batch(n);
  try {
    const res = await fetch(`${url}/v1/logs:ingest`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    return { status: res.status, ids: (JSON.parse(body).entries as Array<{ message: string }>).map((e) => e.message) };
  } catch {
    return { status: 0, ids: [] };
  }
}

t.test('an invalid config stops the start with exit code 78 and names the key, not the secrets', async (t) => {
  const dir = t.testdir({
    'bad.yaml': stringify({ security: { admin_token: 'adm_secret_never_printed_123', api_keys: { tok_secret_never_printed_456: { name: 'has space' } } }, wal: { segment_max_bytes: 12 } }),
  });
  const child = spawnCli(['serve', '--config', join(dir, 'bad.yaml')]);
  const { code } = await child.exited;
  t.equal(code, 78);
  t.match(child.stderr(), /wal\.segment_max_bytes/);
  t.match(child.stderr(), /security\.api_keys/);
  t.notMatch(child.stderr(), /never_printed/);
});

t.test('SIGKILL during delivery loses nothing: after a restart everything acknowledged reaches Loki', async (t) => {
  const s = await setup(t);
  s.loki.setStandingAnswer(lokiAnswers.accept(20));
  let child = await s.start();
  const acked: string[] = [];
  const load = (async () => {
    for (let i = 0; i < 40; i++) {
      const results = await Promise.all([ingest(s.url, 50), ingest(s.url, 50)]);
      for (const r of results) if (r.status === 202) acked.push(...r.ids);
    }
  })();
  await s.loki.waitFor((l) => l.received().length > 200, 20_000);
  child.proc.kill('SIGKILL');
  await child.exited;
  await load;
  t.ok(acked.length > 0);
  s.loki.setStandingAnswer(null);
  child = await s.start();
  await s.loki.waitFor((l) => {
    const lines = new Set(l.received().map((e) => e.line));
    return acked.every((id) => lines.has(id));
  }, 30_000);
  t.pass(`all ${acked.length} acknowledged entries reached Loki; ${s.loki.duplicatesReceived} duplicates were re-sent and dropped by Loki`);
  child.proc.kill('SIGTERM');
  t.equal((await child.exited).code, 0);
});

t.test('SIGTERM under load: requests in flight get their 202, each is kept, exit 0, lock released', async (t) => {
  const s = await setup(t);
  s.loki.setStandingAnswer(lokiAnswers.unavailable());
  const child = await s.start();
  const results: Array<{ status: number; ids: string[] }> = [];
  let stop = false;
  const clients = Array.from({ length: 8 }, async () => {
    while (!stop) results.push(await ingest(s.url, 20));
  });
  await new Promise((r) => setTimeout(r, 300));
  child.proc.kill('SIGTERM');
  const exit = await child.exited;
  stop = true;
  await Promise.all(clients);
  t.equal(exit.code, 0, 'exit code 0');
  t.notOk(existsSync(join(s.walRoot, '.lock')), 'the WAL lock is released');
  const accepted = results.filter((r) => r.status === 202).flatMap((r) => r.ids);
  t.ok(accepted.length > 0, `${accepted.length} entries accepted before the signal`);
  t.ok(results.every((r) => [202, 503, 0].includes(r.status)), 'new requests were refused with 503 (or found the port closed)');

  const wal = await openWal(s.walRoot, { tokens: ['cli'] });
  const stored = new Set<string>();
  let pos = wal.token('cli').cursor;
  for (;;) {
    const r = await wal.token('cli').read(pos, { maxRecords: 1000, maxBytes: 1 << 20 });
    if (r.records.length === 0) break;
    for (const rec of r.records) stored.add(decodeEntryAdapter(rec.entry, rec.labels).line);
    pos = r.next;
  }
  t.equal(wal.token('cli').stats().ackedSeq, 0, 'nothing was delivered: Loki refused all');
  t.same(accepted.filter((id) => !stored.has(id)), [], `every acknowledged entry is in the WAL (${stored.size} stored, ${accepted.length} acknowledged)`);
  await wal.close();
});

t.test('a second instance on the same WAL root exits with a clear message', async (t) => {
  const s = await setup(t);
  await s.start();
  const second = spawnCli(['serve', '--config', s.configFile]);
  const { code } = await second.exited;
  t.equal(code, 1);
  t.match(second.stderr(), /locked by another LogStack process/);
});

t.test('the start line names the Node.js that serves: the one npm scripts run', async (t) => {
  const s = await setup(t);
  const child = await s.start();
  const serving = child.lines.find((line) => line.includes('LogStack is serving'))!;
  t.equal((JSON.parse(serving) as { node: string }).node, process.version);
});
