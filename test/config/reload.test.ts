import { request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { keyChanges, planReload } from '../../src/config/reload.js';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { testConfig } from '../support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from '../support/loki-stand-in.js';
import { createSecretVolume } from '../support/secret-volume.js';

const OLD = 'tok_payments_old_0123456789ab';
const NEW = 'tok_payments_new_0123456789ab';
const USERS = 'tok_users_0123456789abcdefgh';
const ADMIN = 'adm_reload_0123456789abcdefg';

t.test('a reload plan keeps the live changes and the running value of every other key', async (t) => {
  const running = testConfig({ server: { port: 8000 }, masking: { baseline_keys: ['password'] }, loki: { batch_max_entries: 100 } });
  const next = testConfig({
    server: { port: 9000, log_level: 'DEBUG' },
    masking: { baseline_keys: ['password', 'iban'] },
    wal: { wal_root_path: '/elsewhere', token_wal_quota_bytes: 1048576 },
    loki: { batch_max_entries: 50, encoding: 'json', tenant: 'x' },
  });
  const plan = planReload(running, next);
  t.same([...plan.applied].sort(), ['loki.batch_max_entries', 'masking.baseline_keys', 'server.log_level', 'wal.token_wal_quota_bytes']);
  t.same([...plan.refused].sort(), ['loki.encoding', 'loki.tenant', 'server.port', 'wal.wal_root_path']);
  t.equal(plan.effective.server.port, 8000);
  t.equal(plan.effective.wal.wal_root_path, running.wal.wal_root_path);
  t.equal(plan.effective.loki.encoding, 'protobuf');
  t.notOk('tenant' in plan.effective.loki, 'a key the running configuration did not have stays unset');
  t.same(plan.effective.masking.baseline_keys, ['password', 'iban']);
  t.equal(plan.effective.loki.batch_max_entries, 50);
  t.same(planReload(running, running), { effective: running, applied: [], refused: [] }, 'the same configuration changes nothing');
});

t.test('key changes are told by name, never by token', async (t) => {
  const before = { [OLD]: { name: 'payments', active: true }, [USERS]: { name: 'users', active: true }, tok_gone_0123456789abcdef: { name: 'gone', active: true } };
  const after = { [OLD]: { name: 'payments', active: true }, [NEW]: { name: 'payments', active: true }, [USERS]: { name: 'users', active: false }, tok_added_0123456789abcdef: { name: 'added', active: true } };
  const changes = keyChanges(before, after);
  t.same(changes, { added: ['added'], removed: ['gone'], tokensChanged: ['payments'], settingsChanged: ['users'] });
  t.notMatch(JSON.stringify(changes), /tok_/);
});

interface Running {
  readonly service: LogstackService;
  readonly loki: LokiStandIn;
  readonly url: string;
  readonly logs: string[];
  /** Rewrites the configuration file. */
  write(config: Record<string, unknown>): Promise<void>;
  ingest(token: string, body?: unknown): Promise<number>;
  metric(name: string): Promise<number>;
}

const entries = (message = 'hello', metadata: Record<string, unknown> = {}) => ({
  entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message, service: 'svc', env: 'test', metadata }],
});

function configWith(root: string, lokiUrl: string, overrides: { security?: Record<string, unknown>; [section: string]: unknown } = {}): Record<string, unknown> {
  const { security, server, wal, loki, ...rest } = overrides as Record<string, Record<string, unknown> | undefined>;
  return {
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2, ...server },
    security: { admin_token: ADMIN, api_keys: { [OLD]: { name: 'payments' } }, ...security },
    wal: { wal_root_path: join(root, 'wal'), lock_stale_seconds: 2, ...wal },
    loki: { base_url: lokiUrl, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 200, ...loki },
    ...rest,
  };
}

interface Hooks {
  /** Called after each reload has read the files, before it applies them. */
  readonly afterLoad?: () => void;
  /** Called with the configuration read, before the service starts. */
  readonly beforeStart?: (where: { readonly file: string; readonly root: string; readonly lokiUrl: string }) => Promise<void>;
}

async function run(t: Test, overrides: Record<string, unknown> = {}, hooks: Hooks = {}): Promise<Running> {
  const loki = createLokiStandIn();
  await loki.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-reload-'));
  const file = join(root, 'config.yaml');
  const write = (config: Record<string, unknown>) => writeFile(file, stringify(config));
  await write(configWith(root, loki.url, overrides));
  const logs: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } });
  const service = new LogstackService({
    config: loadConfig({ file, env: {} }),
    logger,
    version: 'test',
    filePollIntervalMs: 50,
    reload: {
      load: () => {
        const config = loadConfig({ file, env: {} });
        hooks.afterLoad?.();
        return config;
      },
      configFile: file,
    },
  });
  await hooks.beforeStart?.({ file, root, lokiUrl: loki.url });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await loki.close();
    await rm(root, { recursive: true, force: true });
  });
  return {
    service,
    loki,
    url,
    logs,
    write: (config) => write(config),
    async ingest(token, body = entries()) {
      const res = await fetch(`${url}/v1/logs:ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.arrayBuffer();
      return res.status;
    },
    async metric(name) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return Number(line?.split(' ')[1]);
    },
  };
}

const logLines = (r: Running) => r.logs.map((l) => JSON.parse(l) as Record<string, any>);

t.test('keys change live: added, rotated with both tokens valid, deactivated, removed; a removed key keeps its lane until its backlog is delivered', async (t) => {
  const r = await run(t);
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  const keys = async (apiKeys: Record<string, unknown>) => {
    await r.write(configWith(root, r.loki.url, { security: { api_keys: apiKeys } }));
    const outcome = await r.service.reload('test');
    t.ok(outcome.ok, `reloaded: ${JSON.stringify(outcome)}`);
  };
  t.equal(await r.ingest(USERS), 401, 'not yet a key');

  await keys({ [OLD]: { name: 'payments' }, [USERS]: { name: 'users', tenant: 'team-users' } });
  t.equal(await r.ingest(USERS, entries('from users')), 202, 'added');
  await r.loki.waitFor((l) => l.received('team-users').length === 1);
  t.pass("the added key's entries reach Loki under its tenant");

  await keys({ [OLD]: { name: 'payments' }, [NEW]: { name: 'payments' }, [USERS]: { name: 'users', tenant: 'team-users' } });
  t.same([await r.ingest(OLD), await r.ingest(NEW)], [202, 202], 'during a rotation both tokens are valid');

  await keys({ [NEW]: { name: 'payments' }, [USERS]: { name: 'users', tenant: 'team-users', active: false } });
  t.same([await r.ingest(OLD), await r.ingest(NEW), await r.ingest(USERS)], [401, 202, 401], 'the old token and the deactivated key are refused');

  r.loki.setStandingAnswer(lokiAnswers.unavailable());
  await keys({ [NEW]: { name: 'payments' }, [USERS]: { name: 'users', tenant: 'team-users' } });
  t.equal(await r.ingest(USERS, entries('backlog of a key about to go')), 202);
  await keys({ [NEW]: { name: 'payments' } });
  t.equal(await r.ingest(USERS), 401, 'removed');
  r.loki.setStandingAnswer(null);
  await r.loki.waitFor((l) => l.received('team-users').some((e) => e.line === 'backlog of a key about to go'), 10_000);
  t.pass("the removed key's backlog is still delivered, under its tenant");
  const reloaded = logLines(r).filter((l) => l.msg === 'configuration reloaded');
  t.same(reloaded.at(-1)!.keys_removed, ['users']);
  t.notMatch(r.logs.join(''), /tok_/, 'no token in any log line');
});

t.test('masking, rate limits, WAL quotas, batching and the log level change live', async (t) => {
  const r = await run(t);
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  const UNKNOWN = 'tok_unknown_0123456789abcdef';
  const refusalsLogged = () => logLines(r).filter((l) => l.event === 'auth_refused').length;
  t.equal(await r.ingest(OLD, entries('m1', { iban: 'DE89370400440532013000' })), 202);
  t.equal(await r.ingest(UNKNOWN), 401);
  t.equal(refusalsLogged(), 1, 'at INFO a refusal is logged (WARN)');
  await r.write(
    configWith(root, r.loki.url, {
      server: { log_level: 'ERROR' },
      security: { api_keys: { [OLD]: { name: 'payments', rate_limit_rps: 1, rate_limit_burst: 2 } } },
      masking: { baseline_keys: ['password', 'iban'] },
      loki: { batch_max_entries: 1 },
    }),
  );
  t.ok((await r.service.reload('test')).ok);
  t.equal(await r.ingest(OLD, entries('m2', { iban: 'DE89370400440532013000' })), 202);
  await r.loki.waitFor((l) => l.received().length === 2);
  const [first, second] = r.loki.received();
  t.equal(first!.structuredMetadata['iban'], 'DE89370400440532013000', 'before: not masked');
  t.equal(second!.structuredMetadata['iban'], '****', 'after: masked');
  t.same([await r.ingest(OLD), await r.ingest(OLD)].includes(429), true, 'the new burst of 2 is enforced');
  t.equal(await r.ingest(UNKNOWN), 401);
  t.equal(refusalsLogged(), 1, 'at ERROR it is not');

  await r.write(configWith(root, r.loki.url, { wal: { token_wal_quota_bytes: 1048576 }, loki: { batch_max_entries: 1 } }));
  t.ok((await r.service.reload('test')).ok);
  r.loki.setStandingAnswer(lokiAnswers.unavailable());
  let status = 202;
  for (let i = 0; i < 400 && status === 202; i++) status = await r.ingest(OLD, entries('x'.repeat(4000)));
  t.equal(status, 429, 'the lowered quota of 1 MiB is reached');
  r.loki.setStandingAnswer(null);
  await r.loki.waitFor((l) => l.received().length > 10, 20_000);
  t.ok(r.loki.pushes.every((p) => p.stored + p.duplicates <= 1), 'the backlog goes in pushes of at most the new batch_max_entries');
});

t.test('a change that needs a restart is refused by name and the rest applies; an invalid file changes nothing and says why', async (t) => {
  const r = await run(t);
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  const before = await r.metric('logstack_config_last_reload_success_timestamp_seconds');
  t.equal(await r.metric('logstack_config_last_reload_successful'), 1, 'successful since the start');

  await r.write(configWith(root, r.loki.url, { server: { port: 1 }, wal: { wal_root_path: '/elsewhere' }, security: { api_keys: { [OLD]: { name: 'payments' }, [USERS]: { name: 'users' } } } }));
  const outcome = await r.service.reload('test');
  t.match(outcome, { ok: true, refused: ['server.port', 'wal.wal_root_path'] });
  t.equal(await r.ingest(USERS), 202, 'the new key applies');
  t.match(r.logs.join(''), /not applied, these change only with a restart and keep their running values: server.port, wal.wal_root_path/);
  t.ok((await r.metric('logstack_config_last_reload_success_timestamp_seconds')) >= before);

  await r.write({ ...configWith(root, r.loki.url, { security: { api_keys: { [OLD]: { name: 'payments' }, [NEW]: { name: 'bad name' } } } }), wal: { segment_max_bytes: 1 } });
  const failed = await r.service.reload('test');
  t.match(failed, { ok: false, reason: /^Invalid configuration: 2 problems/ });
  t.equal(await r.metric('logstack_config_last_reload_successful'), 0);
  t.same([await r.ingest(OLD), await r.ingest(USERS), await r.ingest(NEW)], [202, 202, 401], 'the running configuration is untouched');
  const line = logLines(r).find((l) => l.msg === 'configuration reload failed; the running configuration is unchanged')!;
  t.match(line.reason, /wal\.segment_max_bytes: must be >= 4096/);
  t.notMatch(JSON.stringify(line), /tok_|adm_/, 'not a secret in it');

  await r.write(configWith(root, r.loki.url));
  t.ok((await r.service.reload('test')).ok);
  t.equal(await r.metric('logstack_config_last_reload_successful'), 1, 'the next good reload clears it');
});

t.test('a reload of a file that is not YAML logs where, by line and column, never what: the text may be a secret', async (t) => {
  const r = await run(t);
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  const file = join(root, 'config.yaml');
  const good = stringify(configWith(root, r.loki.url));
  const secret = 'S3cretLokiPassword99';
  for (const [what, value] of [
    ['a block scalar header', `|${secret}`],
    ['a folded scalar header', `>${secret}`],
    ['an alias', `*${secret}`],
  ] as const) {
    await writeFile(file, `password_of:\n  loki: ${value}\n${good}`);
    const outcome = await r.service.reload('test');
    t.match(outcome, { ok: false, reason: /: YAML (error [A-Z_]+ at line 2, column \d+|aliases cannot be resolved \(ReferenceError\))$/ }, `${what}: ${outcome.ok ? '' : outcome.reason}`);
    t.notMatch(JSON.stringify(outcome), secret, `${what}: not in the outcome`);
  }
  const failures = logLines(r).filter((l) => l.msg === 'configuration reload failed; the running configuration is unchanged');
  t.equal(failures.length, 3);
  t.notMatch(r.logs.join(''), secret, 'nor in any log line');
  t.equal(await r.ingest(OLD), 202, 'the running configuration is untouched');
});

t.test('a request in flight during a reload that removes its key and changes masking finishes under the configuration it started with', async (t) => {
  const r = await run(t);
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  const body = JSON.stringify(entries('in flight', { iban: 'DE89370400440532013000' }));
  const { port } = new URL(r.url);
  const answer = new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/logs:ingest', method: 'POST', headers: { authorization: `Bearer ${OLD}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.write(body.slice(0, 20));
    void (async () => {
      // The request has been authenticated once its headers were read: only its body is missing.
      await new Promise((r) => setTimeout(r, 200));
      await r.write(configWith(root, r.loki.url, { security: { api_keys: { [NEW]: { name: 'other' } } }, masking: { baseline_keys: ['iban'] } }));
      const outcome = await r.service.reload('test');
      if (!outcome.ok) reject(new Error(outcome.reason));
      req.end(body.slice(20));
    })();
  });
  t.equal(await answer, 202, 'accepted, though its key is gone');
  t.equal(await r.ingest(OLD), 401, 'a new request with that key is refused');
  await r.loki.waitFor((l) => l.received().some((e) => e.line === 'in flight'));
  t.equal(r.loki.received().find((e) => e.line === 'in flight')!.structuredMetadata['iban'], 'DE89370400440532013000', 'masked by the rules it started under');
});

t.test('reload_on_change: a token file rotated in its Secret volume, and the configuration file, apply without a signal', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'logstack-reload-files-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const keys = await createSecretVolume(join(root, 'keys'), { payments: `${OLD}\n` });
  const r = await run(t, { server: { reload_on_change: true }, security: { api_keys: { payments: { name: 'payments', token_file: keys.path('payments') } } } });
  t.equal(await r.ingest(OLD), 202);
  await keys.update({ payments: `${NEW}\n` });
  const deadline = Date.now() + 20_000;
  while ((await r.ingest(NEW)) !== 202 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  t.equal(await r.ingest(NEW), 202, 'the new token is valid');
  t.equal(await r.ingest(OLD), 401, 'the old one is not');
  t.ok(logLines(r).some((l) => l.msg === 'configuration reloaded' && l.trigger === 'file change' && l.keys_with_new_tokens[0] === 'payments'));
});

t.test('reload_on_change: a compromised key removed while the files are being read, at the start or during a reload, is removed all the same', async (t) => {
  let file = '';
  let config = (_apiKeys: Record<string, unknown>): string => '';
  let onRead: (() => void) | null = null;
  const r = await run(
    t,
    { server: { reload_on_change: true }, security: { api_keys: { [OLD]: { name: 'payments' }, [USERS]: { name: 'users' } } } },
    {
      afterLoad: () => {
        onRead?.();
        onRead = null;
      },
      beforeStart: async (where) => {
        file = where.file;
        config = (apiKeys) => stringify(configWith(where.root, where.lokiUrl, { server: { reload_on_change: true }, security: { api_keys: apiKeys } }));
        // Read, not yet watched: the operator removes the compromised key.
        await writeFile(file, config({ [OLD]: { name: 'payments' } }));
      },
    },
  );
  const until = async (what: string, check: () => boolean | Promise<boolean>): Promise<void> => {
    // Generous: a reload is a few ms, but a busy machine stretches everything.
    const deadline = Date.now() + 60_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`not within 60 s: ${what}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  await until('the key removed while starting is refused', async () => (await r.ingest(USERS)) === 401);
  t.equal(await r.ingest(OLD), 202);

  // A reload adds the key back; just after it has read the file, the key is removed again.
  onRead = () => writeFileSync(file, config({ [OLD]: { name: 'payments' } }));
  // Replaced whole, as a deployment tool does: written in place, a poll could see the file cut
  // to nothing before the text is in, the reload read that, and the hook's write above land
  // before this one's text, which left the key in the file for good (seen on a busy machine).
  await writeFile(`${file}.next`, config({ [OLD]: { name: 'payments' }, [USERS]: { name: 'users' } }));
  await rename(`${file}.next`, file);
  await until('the reload read the file', () => onRead === null);
  await until('the key removed while a reload read the files is refused', async () => (await r.ingest(USERS)) === 401);
  t.equal(await r.ingest(OLD), 202, 'the other key is kept');
  t.ok(logLines(r).some((l) => l.msg === 'configuration reloaded' && l.keys_removed?.[0] === 'users'), 'removed by a reload');
});

t.test('a reload that renames a key to another case of a name whose WAL is open is refused: on a case-insensitive file system both are one directory', async (t) => {
  const r = await run(t, { security: { api_keys: { [OLD]: { name: 'payments' }, [USERS]: { name: 'users' } } } });
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  t.equal(await r.ingest(OLD), 202);
  await r.write(configWith(root, r.loki.url, { security: { api_keys: { [OLD]: { name: 'Payments' }, [USERS]: { name: 'users' } } } }));
  const renamed = await r.service.reload('test');
  t.match(renamed, { ok: false, reason: /a key is named "Payments", and the WAL of "payments" is open/ });
  // Removed, its WAL stays open until its backlog is delivered: not a name to take in another case either.
  await r.write(configWith(root, r.loki.url, { security: { api_keys: { [USERS]: { name: 'users' }, [NEW]: { name: 'PAYMENTS' } } } }));
  t.match(await r.service.reload('test'), { ok: false, reason: /"PAYMENTS", and the WAL of "payments" is open/ });
  t.same(
    r.service.wal.tokens().map((wal) => wal.name).sort(),
    ['payments', 'users'],
    'no second WAL was opened',
  );
  t.same([await r.ingest(OLD), await r.ingest(NEW)], [202, 401], 'the running configuration is unchanged');
  await r.write(configWith(root, r.loki.url, { security: { api_keys: { [OLD]: { name: 'payments-v2' }, [USERS]: { name: 'users' } } } }));
  t.match(await r.service.reload('test'), { ok: true }, 'another name is fine');
});

t.test('a token rotated under load, with reloads in between: not one request that used a valid token is refused', async (t) => {
  const limits = { rate_limit_rps: 1_000_000, rate_limit_burst: 1_000_000 };
  const r = await run(t, { security: { api_keys: { [OLD]: { name: 'payments', ...limits } } } });
  const root = (r.service.wal.root as string).replace(/\/wal$/, '');
  const reload = async (apiKeys: Record<string, unknown>, masking: Record<string, unknown> = {}) => {
    await r.write(configWith(root, r.loki.url, { security: { api_keys: apiKeys }, masking }));
    const outcome = await r.service.reload('rotation');
    if (!outcome.ok) throw new Error(outcome.reason);
  };

  // Each client uses the old token until told to switch, then the new one for good.
  let phase: 'old' | 'switching' | 'new' = 'old';
  let stop = false;
  const answers: Array<{ token: 'old' | 'new'; status: number }> = [];
  const done = new Array<number>(8).fill(0);
  const clients = done.map(async (_, i) => {
    let mine: 'old' | 'new' = 'old';
    while (!stop) {
      if (phase === 'new' || (phase === 'switching' && Math.random() < 0.2)) mine = 'new';
      answers.push({ token: mine, status: await r.ingest(mine === 'old' ? OLD : NEW, entries(`client ${i}`)) });
      done[i]!++;
    }
  });
  // Phases advance by answers, not by time, so that a slow machine runs the same test.
  const afterAnswers = async (n: number) => {
    const target = answers.length + n;
    while (answers.length < target) await new Promise((res) => setTimeout(res, 5));
  };
  const everyClientAnsweredTwice = async () => {
    const seen = [...done];
    while (done.some((n, i) => n < seen[i]! + 2)) await new Promise((res) => setTimeout(res, 5));
  };

  await afterAnswers(40);
  await reload({ [OLD]: { name: 'payments', ...limits }, [NEW]: { name: 'payments', ...limits } });
  phase = 'switching';
  for (const keys of [['password', 'iban'], ['password'], ['password', 'card']]) {
    await afterAnswers(20);
    await reload({ [OLD]: { name: 'payments', ...limits }, [NEW]: { name: 'payments', ...limits } }, { baseline_keys: keys });
  }
  phase = 'new';
  // The clients are rolled: none has a request with the old token left in flight.
  await everyClientAnsweredTwice();
  await reload({ [NEW]: { name: 'payments', ...limits } });
  await afterAnswers(40);
  stop = true;
  await Promise.all(clients);

  const refused = answers.filter((a) => a.status !== 202);
  t.pass(`${answers.length} requests, ${answers.filter((a) => a.token === 'old').length} with the old token, 4 reloads among them`);
  t.ok(answers.some((a) => a.token === 'old') && answers.some((a) => a.token === 'new'), 'both tokens were used');
  t.same(refused, [], 'every request was accepted');
  t.equal(await r.ingest(OLD), 401, 'the old token is gone at the end');
});
