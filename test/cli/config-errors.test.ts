/**
 * `logstack serve` with a configuration it cannot run: exit code 78 (EX_CONFIG) with the key path
 * of each problem, no stack trace, and none of the configuration's secrets, not even their first
 * characters. Each case is a real child process reading a real file.
 */
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { spawnCli } from '../support/child.js';


t.test('what the configuration holds never reaches our output, not even its first characters; every bad value exits 78 with its key', async (t) => {
  const cases: Array<{ name: string; config?: Record<string, unknown>; yaml?: string; env?: NodeJS.ProcessEnv; key: RegExp; secrets: string[] }> = [
    {
      name: 'a Loki URL with credentials that is not a URL',
      config: { loki: { base_url: 'http://loki-user:QzXwNeverShown@loki:99999' } },
      key: /loki\.base_url: is not a valid URL/,
      secrets: ['QzXw', 'NeverShown'],
    },
    {
      name: 'a Loki URL with credentials beside another problem',
      config: { loki: { base_url: 'https://loki-user:PlMkNeverShown@loki.example.com' }, wal: { segment_max_bytes: 12 } },
      key: /wal\.segment_max_bytes/,
      secrets: ['PlMk', 'NeverShown'],
    },
    {
      name: 'a Loki URL of the wrong scheme whose password holds a slash and an @',
      config: { loki: { base_url: 'ftp://loki-user:RtYu/Never@Shown@loki:3100' } },
      key: /loki\.base_url: must match the pattern/,
      secrets: ['RtYu', 'Never', 'Shown'],
    },
    {
      name: 'a Loki URL from the environment whose password holds a space',
      env: { LOGSTACK_LOKI_BASE_URL: 'ftp://loki-user:GhJk Never@loki:3100' },
      key: /loki\.base_url: must match the pattern .*LOGSTACK_LOKI_BASE_URL/,
      secrets: ['GhJk', 'Never'],
    },
    {
      name: 'an API key whose name is unusable',
      config: { security: { api_keys: { VbNm_secret_never_printed_9: { name: 'has space' } } } },
      key: /security\.api_keys\[#1\]\.name/,
      secrets: ['VbNm', 'never_printed'],
    },
    {
      name: 'the admin token is the token of a key whose name is unusable',
      config: { security: { admin_token: 'UiOp_secret_never_printed_9', api_keys: { UiOp_secret_never_printed_9: { name: '..' } } } },
      key: /security\.admin_token: must differ from every API token; it is the token of security\.api_keys\[#1\]/,
      secrets: ['UiOp', 'never_printed'],
    },
    {
      name: 'an API token from the environment that is too short',
      env: { LOGSTACK_API_KEY_PAY_TOKEN: 'AsDf_short' },
      key: /security\.api_keys\[pay\]: the token must be at least 16 characters long/,
      secrets: ['AsDf'],
    },
    {
      name: 'API tokens in an environment variable that is not JSON',
      env: { LOGSTACK_SECURITY_API_KEYS: '{"ErTy_secret_never_printed_9": {name: "a"}}' },
      key: /LOGSTACK_SECURITY_API_KEYS \(security\.api_keys\): must be a JSON object/,
      secrets: ['ErTy', 'never_printed'],
    },
    {
      name: 'a YAML error on the line of a token',
      yaml: 'security:\n  api_keys:\n    CvBn_secret_never_printed_9: [\n',
      key: /YAML error [A-Z_]+ at line \d+, column \d+/,
      secrets: ['CvBn', 'never_printed'],
    },
    {
      name: 'a custom pattern that is not a regular expression',
      config: { masking: { patterns: { custom: [{ name: 'order_ref', pattern: '(unclosed KjHg' }] } } },
      key: /masking\.patterns\.custom\[0\]\.pattern/,
      secrets: ['KjHg'],
    },
    {
      name: 'a custom pattern that matches everything',
      config: { masking: { patterns: { custom: [{ name: 'everything', pattern: 'x*' }] } } },
      key: /masking\.patterns\.custom\[0\]\.pattern: .*matches the empty string/,
      secrets: [],
    },
  ];
  for (const c of cases) {
    const dir = t.testdir({ 'bad.yaml': c.yaml ?? stringify(c.config ?? {}) });
    const child = spawnCli(['serve', '--config', join(dir, 'bad.yaml')], c.env);
    t.teardown(() => {
      if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    });
    const { code } = await child.exited;
    t.equal(code, 78, `${c.name}: exit code`);
    t.match(child.stderr(), c.key, `${c.name}: the key path`);
    t.notMatch(child.stderr(), /\n\s+at /, `${c.name}: no stack trace`);
    for (const secret of c.secrets) t.notMatch(child.stderr(), secret, `${c.name}: not ${secret}`);
  }
});

