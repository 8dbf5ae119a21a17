/**
 * `logstack serve` and its configuration beyond the start: files it names (certificates) that
 * stop the start, and SIGHUP. Apart from serve.test.ts so that each file keeps tap's time budget
 * on a busy machine: every test here starts the CLI.
 */
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { spawnCli } from '../support/child.js';

const TOKEN = 'tok_cli_0123456789abcdefghij';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const ingest = (url: string, token: string) =>
  fetch(`${url}/v1/logs:ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message: 'hello', service: 'cli', env: 'test' }] }),
  }).then(async (res) => (await res.arrayBuffer(), res.status));

t.test('a certificate file that cannot be read stops the start with exit code 78, naming the key', async (t) => {
  const dir = t.testdir({
    'tls.yaml': stringify({ server: { tls: { cert_file: '/nonexistent/tls.crt', key_file: '/nonexistent/tls.key' } }, wal: { wal_root_path: join(t.testdirName, 'wal') } }),
  });
  const child = spawnCli(['serve', '--config', join(dir, 'tls.yaml')]);
  const { code } = await child.exited;
  t.equal(code, 78);
  t.match(child.stderr(), /server\.tls\.cert_file: cannot read \/nonexistent\/tls\.crt: no such file/);
});

t.test('a YAML error stops the start with exit code 78, by code, line and column, never the text of the file', async (t) => {
  const secret = 'S3cretLokiBearer99xx';
  const dir = t.testdir({ 'folded.yaml': `loki:\n  bearer_token: >${secret}\n`, 'alias.yaml': `security:\n  admin_token: *${secret}\n` });
  for (const [name, expected] of [
    ['folded.yaml', /YAML error UNEXPECTED_TOKEN at line 2, column \d+/],
    ['alias.yaml', /YAML aliases cannot be resolved/],
  ] as const) {
    const child = spawnCli(['serve', '--config', join(dir, name)]);
    const { code } = await child.exited;
    t.equal(code, 78, name);
    t.match(child.stderr(), expected);
    t.notMatch(child.stderr() + child.lines.join('\n'), secret, `${name}: the secret is not printed`);
  }
});

t.test('SIGHUP reloads the configuration file: a key added to it is accepted without a restart', async (t) => {
  const port = await freePort();
  const dir = t.testdir({});
  const file = join(dir, 'config.yaml');
  await writeFile(
    file,
    stringify({
      server: { host: '127.0.0.1', port, shutdown_timeout_seconds: 1 },
      security: { api_keys: { [TOKEN]: { name: 'cli' } } },
      wal: { wal_root_path: join(dir, 'wal'), lock_stale_seconds: 2 },
      loki: { base_url: 'http://127.0.0.1:9' },
    }),
  );
  const child = spawnCli(['serve', '--config', file]);
  t.teardown(async () => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    await child.exited;
  });
  await child.waitForLine(/LogStack is serving/, 60_000);
  const url = `http://127.0.0.1:${port}`;
  const added = 'tok_added_by_sighup_0123456789';
  t.equal(await ingest(url, added), 401, 'not a key yet');

  const config = parse(await readFile(file, 'utf8')) as { security: { api_keys: Record<string, unknown> } };
  config.security.api_keys[added] = { name: 'added' };
  await writeFile(file, stringify(config));
  child.proc.kill('SIGHUP');
  const line = JSON.parse(await child.waitForLine(/configuration reloaded/)) as { trigger: string; keys_added: string[] };
  t.same([line.trigger, line.keys_added], ['SIGHUP', ['added']]);
  t.equal(await ingest(url, added), 202, 'accepted after the reload');
  t.equal(await ingest(url, TOKEN), 202, 'and the key it had');
  t.equal(child.proc.exitCode, null, 'still running');
});

t.test('SIGHUP while the service is starting does not end it: the reload is kept, and done once it runs', async (t) => {
  const port = await freePort();
  const dir = t.testdir({});
  const file = join(dir, 'config.yaml');
  const walRoot = join(dir, 'wal');
  const config = {
    server: { host: '127.0.0.1', port, shutdown_timeout_seconds: 1 },
    security: { api_keys: { [TOKEN]: { name: 'cli' } } as Record<string, unknown> },
    wal: { wal_root_path: walRoot, lock_stale_seconds: 10 },
    loki: { base_url: 'http://127.0.0.1:9' },
  };
  await writeFile(file, stringify(config));
  // The WAL root is locked by a holder the start cannot ask (no owner file): the start waits
  // for the lock to go stale, in the middle of starting.
  const lock = join(walRoot, '.lock');
  await mkdir(lock, { recursive: true });
  let holding = true;
  const refresh = (async () => {
    while (holding) {
      const now = new Date();
      await utimes(lock, now, now);
      await sleep(500);
    }
  })();
  t.teardown(async () => {
    holding = false;
    await refresh;
  });
  const child = spawnCli(['serve', '--config', file]);
  t.teardown(async () => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    await child.exited;
  });
  // The configuration is loaded, the WAL lock being waited for.
  const waiting = JSON.parse(await child.waitForLine(/waiting for its lock to go stale/, 60_000)) as { lock_stale_seconds: number };
  t.equal(waiting.lock_stale_seconds, 10, 'the wait is announced with its bound');

  const added = 'tok_added_while_starting_0123';
  config.security.api_keys[added] = { name: 'added' };
  await writeFile(file, stringify(config));
  child.proc.kill('SIGHUP');
  child.proc.kill('SIGHUP');
  await sleep(500);
  t.same([child.proc.exitCode, child.proc.signalCode], [null, null], 'still starting');
  t.notOk(child.lines.some((l) => /LogStack is serving/.test(l)), 'not serving yet when the signals came');
  // Stale in 2 s: the start takes the lock and goes on.
  holding = false;
  await refresh;
  const past = new Date(Date.now() - 8_000);
  await utimes(lock, past, past);

  await child.waitForLine(/LogStack is serving/, 60_000);
  const line = JSON.parse(await child.waitForLine(/configuration reloaded/, 60_000)) as { trigger: string; keys_added: string[] };
  t.same([line.trigger, line.keys_added], ['SIGHUP', ['added']], 'the reload asked for while starting');
  const url = `http://127.0.0.1:${port}`;
  t.equal(await ingest(url, added), 202, 'the key added while it started is accepted');
  await sleep(500);
  t.equal(child.lines.filter((l) => /configuration reloaded/.test(l)).length, 1, 'two signals, one reload');
  t.equal(child.proc.exitCode, null, 'still running');
});
