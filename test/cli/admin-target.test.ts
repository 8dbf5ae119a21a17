import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { adminCommand } from '../../src/cli/admin-commands.js';
import { AdminFailure } from '../../src/cli/admin-failure.js';
import { localServiceUrl, MAX_TOKEN_FILE_BYTES, parseServiceUrl, resolveAdminTarget } from '../../src/cli/admin-target.js';
import { parseDuration } from '../../src/cli/duration.js';
import { loadConfig } from '../../src/config/load.js';
import { testConfig } from '../support/config.js';

const FILE_TOKEN = 'adm_from_the_file_0123456789';
const ENV_TOKEN = 'adm_from_the_env_0123456789';
const CONFIG_TOKEN = 'adm_from_config_0123456789';

function configDir(t: Test): string {
  return t.testdir({
    'config.yaml': stringify({ server: { host: '0.0.0.0', port: 8123 }, security: { admin_token: CONFIG_TOKEN, api_keys: { tok_app_0123456789abcdef: { name: 'app' } } } }),
    token: `${FILE_TOKEN}\n`,
    'empty-token': '\n',
  });
}

const load = (cwd: string, env: NodeJS.ProcessEnv) => (file: string | undefined) => loadConfig({ file, env, cwd });

function failureOf(f: () => unknown): AdminFailure {
  try {
    f();
  } catch (err) {
    if (err instanceof AdminFailure) return err;
    throw err;
  }
  throw new Error('no failure');
}

t.test('flags win over the environment, which wins over the configuration', async (t) => {
  const cwd = configDir(t);
  const env = { LOGSTACK_URL: 'http://from-env:9000', LOGSTACK_ADMIN_TOKEN: ENV_TOKEN };
  t.same(resolveAdminTarget({ url: 'http://from-flag:7000/', tokenFile: 'token', env, cwd, loadConfig: load(cwd, env) }), {
    url: 'http://from-flag:7000',
    token: FILE_TOKEN,
    tokenSource: '--token-file token',
    trust: { kind: 'system' },
  });
  t.same(resolveAdminTarget({ env, cwd, loadConfig: () => t.fail('the configuration is not read when nothing is missing') as never }), {
    url: 'http://from-env:9000',
    token: ENV_TOKEN,
    tokenSource: 'LOGSTACK_ADMIN_TOKEN',
    trust: { kind: 'system' },
  });
  t.same(resolveAdminTarget({ env: {}, cwd, loadConfig: load(cwd, {}) }), {
    url: 'http://127.0.0.1:8123',
    token: CONFIG_TOKEN,
    tokenSource: "the configuration's security.admin_token",
    trust: { kind: 'system' },
  });
});

t.test("the configuration is the service's: its LOGSTACK_* overrides apply, as for serve", async (t) => {
  const cwd = configDir(t);
  const env = { LOGSTACK_PORT: '8456', LOGSTACK_SECURITY_ADMIN_TOKEN: 'adm_override_0123456789ab' };
  t.same(resolveAdminTarget({ env, cwd, loadConfig: load(cwd, env) }), {
    url: 'http://127.0.0.1:8456',
    token: 'adm_override_0123456789ab',
    tokenSource: "the configuration's security.admin_token",
    trust: { kind: 'system' },
  });
});

t.test('the address a local client reaches the service on', async (t) => {
  const at = (host: string, port = 8000) => localServiceUrl(testConfig({ server: { host, port } }));
  t.equal(at('0.0.0.0'), 'http://127.0.0.1:8000');
  t.equal(at('::'), 'http://[::1]:8000');
  t.equal(at('127.0.0.1', 9001), 'http://127.0.0.1:9001');
  t.equal(at('fd00::5'), 'http://[fd00::5]:8000');
  t.equal(at('logstack.internal'), 'http://logstack.internal:8000');
  t.match(failureOf(() => at('0.0.0.0', 0)), { kind: 'usage', message: /server\.port is 0/ });
});

t.test('a URL is http(s), without credentials, query or fragment, and never echoed', async (t) => {
  t.equal(parseServiceUrl('https://logstack.example/prefix/', '--url'), 'https://logstack.example/prefix');
  for (const [text, message] of [
    ['logstack:8000', /must start with http/],
    ['not a url', /is not a URL/],
    ['ftp://x', /must start with http/],
    ['http://admin:hunter2-secret@logstack:8000', /must not hold credentials/],
    ['http://logstack:8000/?token=hunter2-secret', /must not have a query/],
  ] as const) {
    const failure = failureOf(() => parseServiceUrl(text, 'LOGSTACK_URL'));
    t.match(failure, { kind: 'usage', message }, text);
    t.notMatch(failure.message, /hunter2/);
  }
});

t.test('a token file that is missing or empty, or no token anywhere, is a usage error', async (t) => {
  const cwd = configDir(t);
  t.match(failureOf(() => resolveAdminTarget({ url: 'http://x:1', tokenFile: 'nope', env: {}, cwd, loadConfig: load(cwd, {}) })), { kind: 'usage', message: 'cannot read --token-file nope: no such file' });
  t.match(failureOf(() => resolveAdminTarget({ url: 'http://x:1', tokenFile: 'empty-token', env: {}, cwd, loadConfig: load(cwd, {}) })), { kind: 'usage', message: /is empty/ });
  const bare = t.testdir({});
  t.match(failureOf(() => resolveAdminTarget({ url: 'http://x:1', env: {}, cwd: bare, loadConfig: load(bare, {}) })), {
    kind: 'usage',
    message: /no admin token: set LOGSTACK_ADMIN_TOKEN, give --token-file FILE, or name the service's configuration with --config/,
  });
});

t.test(`a token file is read up to ${MAX_TOKEN_FILE_BYTES} bytes, and not a byte more`, async (t) => {
  const cwd = t.testdir({ 'at-bound': 'a'.repeat(MAX_TOKEN_FILE_BYTES), 'past-bound': 'a'.repeat(MAX_TOKEN_FILE_BYTES + 1) });
  const target = (tokenFile: string) => resolveAdminTarget({ url: 'http://x:1', tokenFile, env: {}, cwd, loadConfig: load(cwd, {}) });
  t.equal(target('at-bound').token.length, MAX_TOKEN_FILE_BYTES);
  t.match(failureOf(() => target('past-bound')), { kind: 'usage', message: `--token-file past-bound is larger than ${MAX_TOKEN_FILE_BYTES} bytes: not a token` });
  t.match(failureOf(() => target('/dev/zero')), { kind: 'usage', message: /larger than/ }, 'a device without end');
});

t.test('a configuration that does not load is exit 78, naming the key and no secret', async (t) => {
  const cwd = t.testdir({ 'bad.yaml': stringify({ security: { admin_token: 'short-secret' } }) });
  let stderr = '';
  const code = await adminCommand('status', ['--config', join(cwd, 'bad.yaml')], { stdout: () => {}, stderr: (s) => void (stderr += s), env: {}, cwd });
  t.equal(code, 78);
  t.match(stderr, /^logstack: .*security\.admin_token[^\n]*\n$/);
  t.notMatch(stderr, /short-secret/);
  const missing = await adminCommand('status', ['--config', 'nope.yaml'], { stdout: () => {}, stderr: () => {}, env: {}, cwd });
  t.equal(missing, 78);
  writeFileSync(join(cwd, 'port0.yaml'), stringify({ server: { port: 0 }, security: { admin_token: CONFIG_TOKEN } }));
  t.equal(await adminCommand('status', ['-c', 'port0.yaml'], { stdout: () => {}, stderr: () => {}, env: {}, cwd }), 2);
});

t.test('durations', async (t) => {
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('30'), 30_000);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('1.5s'), 1_500);
  for (const bad of ['', '0', '0s', '-1s', 's', '30x', '1m30s', '1e3']) t.equal(parseDuration(bad), undefined, JSON.stringify(bad));
});
