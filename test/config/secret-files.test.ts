import { join } from 'node:path';
import { inspect } from 'node:util';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { failure, problemsOf } from '../support/config-files.js';

type Fixture = Record<string, string | Record<string, string>>;

/** Files in the test's directory (its path is known before they exist) and a config.yaml beside them. */
function setup(t: Test, files: (dir: string) => Fixture, yaml: (dir: string) => string): { dir: string; file: string } {
  const dir = t.testdirName;
  t.testdir({ ...files(dir), 'config.yaml': yaml(dir) });
  return { dir, file: join(dir, 'config.yaml') };
}

const TOKEN_A = 'logstack_from_file_aaaaaaaaaaaa';
const TOKEN_B = 'logstack_from_file_bbbbbbbbbbbb';
const INLINE = 'logstack_inline_cccccccccccccccc';
const ADMIN = 'logstack_admin_file_dddddddddddd';

t.test('token_file: the key is read from its file, listed under its token, and remembers the file', async (t) => {
  const { dir, file } = setup(
    t,
    () => ({ payments: `${TOKEN_A}\n`, users: `  ${TOKEN_B}\r\n`, admin: ADMIN }),
    (dir) =>
      `security:\n  admin_token_file: ${join(dir, 'admin')}\n  api_keys:\n    payments:\n      name: payments-api\n      token_file: ${join(dir, 'payments')}\n    ${INLINE}:\n      name: inline\n    users:\n      name: user-service\n      token_file: ${join(dir, 'users')}\n`,
  );
  const config = loadConfig({ file, env: {} });
  t.same(Object.keys(config.security.api_keys), [TOKEN_A, INLINE, TOKEN_B], 'in the order of the file, whitespace around the token dropped');
  t.same(config.security.api_keys[TOKEN_A], { name: 'payments-api', active: true, token_file: join(dir, 'payments') });
  t.equal(config.security.admin_token, ADMIN);
  t.equal(config.security.admin_token_file, join(dir, 'admin'));
});

t.test('LOGSTACK_API_KEY_{ID}_TOKEN_FILE and LOGSTACK_SECURITY_ADMIN_TOKEN_FILE, relative to the working directory', async (t) => {
  const dir = t.testdir({ keys: { payments: TOKEN_A, admin: ADMIN } });
  const config = loadConfig({
    cwd: dir,
    env: { LOGSTACK_API_KEY_PAYMENTS_TOKEN_FILE: 'keys/payments', LOGSTACK_API_KEY_PAYMENTS_NAME: 'payments-api', LOGSTACK_SECURITY_ADMIN_TOKEN_FILE: 'keys/admin' },
  });
  t.same(config.security.api_keys, { [TOKEN_A]: { name: 'payments-api', active: true, token_file: 'keys/payments' } });
  t.equal(config.security.admin_token, ADMIN);
});

t.test('a value and a file for one secret: the environment wins over the file, and one place may not give both', async (t) => {
  const dir = t.testdir({
    admin: ADMIN,
    'token.yaml': `security:\n  admin_token: ${INLINE}\n`,
    'file.yaml': `security:\n  admin_token_file: admin\n`,
    'both.yaml': `security:\n  admin_token: ${INLINE}\n  admin_token_file: admin\n`,
  });
  const load = (yaml: string, env: Record<string, string> = {}) => loadConfig({ cwd: dir, file: join(dir, yaml), env });
  t.equal(load('token.yaml', { LOGSTACK_SECURITY_ADMIN_TOKEN_FILE: 'admin' }).security.admin_token, ADMIN, 'the file named by the environment');
  t.equal(load('file.yaml', { LOGSTACK_SECURITY_ADMIN_TOKEN: INLINE }).security.admin_token, INLINE, 'the value given by the environment');
  t.same(problemsOf(failure(() => load('both.yaml'))), ['security.admin_token, security.admin_token_file: both set the admin token (in the file); set one of them']);
  const env = failure(() => load('token.yaml', { LOGSTACK_API_KEY_P_TOKEN: INLINE, LOGSTACK_API_KEY_P_TOKEN_FILE: 'admin', LOGSTACK_API_KEY_P_NAME: 'p' }));
  t.same(problemsOf(env), ['LOGSTACK_API_KEY_P_TOKEN, LOGSTACK_API_KEY_P_TOKEN_FILE: both give the token of the key; set one of them']);
});

t.test('a file that is missing, empty, too large or not a token is named with its key; its content never is', async (t) => {
  const secretShort = 'short-secret';
  const key = (dir: string, id: string, file: string) => `    ${id}:\n      name: ${id}\n      token_file: ${join(dir, file)}\n`;
  const { dir, file } = setup(
    t,
    () => ({ empty: '\n', big: 'x'.repeat(16 * 1024 + 1), short: secretShort, spaced: 'has a space in it, so no bearer token', dup: INLINE }),
    (dir) =>
      `security:\n  api_keys:\n    ${INLINE}:\n      name: inline\n` +
      ['missing:nope', 'empty:empty', 'big:big', 'short:short', 'spaced:spaced', 'dup:dup'].map((p) => key(dir, p.split(':')[0]!, p.split(':')[1]!)).join(''),
  );
  const err = failure(() => loadConfig({ file, env: {} }));
  const problems = problemsOf(err);
  t.match(problems, [
    `security.api_keys[missing].token_file: cannot read ${join(dir, 'nope')}: no such file`,
    `security.api_keys[empty].token_file: ${join(dir, 'empty')} is empty`,
    new RegExp(`^security\\.api_keys\\[big\\]\\.token_file: cannot read ${join(dir, 'big')}: it is 16385 bytes, over the 16384`),
    `security.api_keys[dup].token_file: ${join(dir, 'dup')} holds the token of another key; a token can be only one key`,
  ]);
  t.match(err.message, `security.api_keys[short]: the token must be at least 16 characters long (set by token_file ${join(dir, 'short')})`, 'too short, and from which file');
  t.ok(problems.some((p) => /^security\.api_keys\[spaced\]: the token must match the pattern/.test(p)), 'not a bearer token');
  const text = inspect(err, { depth: 10 }) + err.message;
  for (const secret of [secretShort, 'has a space in it', INLINE]) t.notMatch(text, secret, 'no token in the error');
});
