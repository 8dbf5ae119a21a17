/**
 * The admin commands end to end: a real LogStack process with its real admin API, a Loki
 * stand-in it delivers to, and `logstack flush | status | dead-letters` with nothing but the
 * service's configuration file, as a preStop hook runs them. Two run as processes, for their
 * exit codes as a shell sees them; the others in this process (a process costs seconds to
 * start on a busy machine), over the same real sockets.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { adminCommand, type AdminCommand } from '../../src/cli/admin-commands.js';
import { spawnCli, type Child } from '../support/child.js';
import { createLokiStandIn, lokiAnswers } from '../support/loki-stand-in.js';
import { freePort } from '../support/ports.js';

const TOKEN = 'tok_admin_e2e_0123456789abcdef';
const ADMIN = 'adm_admin_e2e_0123456789abcdef';

let counter = 0;
async function ingest(url: string, n: number): Promise<void> {
  const ts = new Date().toISOString();
  const entries = Array.from({ length: n }, () => ({ timestamp: ts, level: 'INFO', message: `entry ${counter++}`, service: 'shop', env: 'test' }));
  const res = await fetch(`${url}/v1/logs:ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ entries }),
  });
  await res.arrayBuffer();
  if (res.status !== 202) throw new Error(`ingest answered ${res.status}`);
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const NO_TARGET = { LOGSTACK_URL: '', LOGSTACK_ADMIN_TOKEN: '', LOGSTACK_CONFIG: '' };

/** `logstack ARGS` as a process. */
async function spawned(args: string[]): Promise<Ran> {
  const child: Child = spawnCli(args, NO_TARGET);
  const { code } = await child.exited;
  return { code, stdout: child.lines.join('\n'), stderr: child.stderr() };
}

/** `logstack ARGS` in this process, as `main` runs it. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const [command, ...rest] = args as [AdminCommand, ...string[]];
  const code = await adminCommand(command, rest, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env: { ...NO_TARGET, ...env } });
  return { code, stdout, stderr };
}

t.test('flush, status and dead-letters against a running service', async (t) => {
  const loki = createLokiStandIn();
  await loki.start();
  const dir = await mkdtemp(join(tmpdir(), 'logstack-admin-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    stringify({
      server: { host: '127.0.0.1', port, shutdown_timeout_seconds: 2 },
      security: { admin_token: ADMIN, api_keys: { [TOKEN]: { name: 'shop' } } },
      wal: { wal_root_path: join(dir, 'wal'), lock_stale_seconds: 2 },
      loki: { base_url: loki.url, batch_max_wait_ms: 5, backoff_initial_ms: 20, backoff_max_ms: 200, max_retries: 1 },
    }),
  );
  const service = spawnCli(['serve', '--config', config]);
  t.teardown(async () => {
    if (service.proc.exitCode === null && service.proc.signalCode === null) service.proc.kill('SIGKILL');
    await service.exited;
    await loki.close();
    await rm(dir, { recursive: true, force: true });
  });
  await service.waitForLine(/LogStack is serving/);

  // Loki down: what is ingested waits in the WAL.
  loki.setStandingAnswer(lokiAnswers.unavailable());
  await ingest(url, 50);

  const status = await spawned(['status', '--config', config]);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /^LogStack \S+, up \d+s, forwarder running, WAL open/m);
  t.match(status.stdout, /^KEY +BACKLOG +BYTES +OLDEST +DELIVERY +LAST PUSH +DEAD LETTERS$/m);
  t.match(status.stdout, /^shop +50 +\S+ \S+ +\S+ +\S+/m, 'the 50 entries are the backlog');
  const json = await cli(['status', '--json', '--config', config]);
  t.equal(json.code, 0);
  t.match(JSON.parse(json.stdout), { service: 'logstack', tokens: { shop: { pending_entries: 50 } } });

  const late = await spawned(['flush', '--wait', '--timeout', '1s', '--config', config]);
  t.equal(late.code, 1, 'not delivered while Loki refuses');
  t.match(late.stderr, /^logstack: not everything was delivered within 1 s; each key's progress:$/m);
  t.match(late.stderr, /^ {2}shop: 50 entries left \(delivered up to seq 0 of 50\), delivery (retrying|failing)$/m);

  loki.setStandingAnswer(null);
  const flushed = await cli(['flush', '--wait', '--timeout', '60s', '--config', config]);
  t.equal(flushed.code, 0, flushed.stderr);
  t.match(flushed.stdout, /^delivered: everything appended before the flush is at Loki \(1 key\)$/m);
  t.equal(loki.received().length, 50, 'Loki has the 50 entries');

  // Loki refuses the next push for good: it goes to the dead letters, and is replayed.
  loki.answerNext(lokiAnswers.timestampTooOld('{env="test", level="INFO", service="shop"}'));
  await ingest(url, 5);
  t.equal((await cli(['flush', '--wait', '--config', config])).code, 0);
  const dead = await cli(['dead-letters', '--config', config]);
  t.equal(dead.code, 0, dead.stderr);
  t.match(dead.stdout, /^shop +5 +\S+ \S+ +0 +timestamp_too_old 5$/m);
  const replay = await cli(['dead-letters', '--replay', '--key', 'shop', '--config', config]);
  t.equal(replay.code, 0, replay.stderr);
  t.match(replay.stdout, /^ {2}shop: 5 entries requeued$/m);
  t.equal((await cli(['flush', '--wait', '--config', config])).code, 0);
  t.equal(loki.received().length, 55, 'the replayed entries reached Loki');

  // The environment wins over the configuration; a wrong token or an API key is refused.
  t.equal((await cli(['status', '--config', config], { LOGSTACK_ADMIN_TOKEN: 'adm_wrong_0123456789abcdef' })).code, 4);
  t.equal((await cli(['status', '--config', config], { LOGSTACK_ADMIN_TOKEN: TOKEN })).code, 5);

  service.proc.kill('SIGTERM');
  t.equal((await service.exited).code, 0);
  const gone = await cli(['status', '--config', config]);
  t.equal(gone.code, 3);
  t.match(gone.stderr, new RegExp(`^logstack: cannot connect to ${url}/v1/admin/status: connection refused`));
  t.notMatch(`${status.stdout}${late.stderr}${gone.stderr}`, ADMIN, 'the admin token is never printed');
});
