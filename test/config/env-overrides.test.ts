import t from 'tap';
import { configFile, failure, problemsOf } from '../support/config-files.js';
import { applyEnvOverrides, listEnvVars, resolveConfigPath } from '../../src/config/env-overrides.js';
import { loadConfig } from '../../src/config/load.js';
import { LIST_ITEM, MAP_ENTRY, schemaKeys } from '../../src/config/schema-keys.js';

const FILE_TOKEN = 'logstack_file_aaaaaaaaaaaaaaaaaaaa';
const OTHER_FILE_TOKEN = 'logstack_file_bbbbbbbbbbbbbbbbbbbb';
const JSON_TOKEN = 'logstack_json_cccccccccccccccccccc';
const ENV_TOKEN = 'logstack_env_dddddddddddddddddddddd';

const TWO_KEYS = `security:
  api_keys:
    ${FILE_TOKEN}:
      name: payments-api
      tenant: payments
      masking:
        extra_keys: [iban]
    ${OTHER_FILE_TOKEN}:
      name: user-service
`;

t.test('the seed names override the file', async (t) => {
  const file = configFile(t, 'server:\n  port: 8000\nwal:\n  wal_root_path: ./wal\nloki:\n  base_url: http://localhost:3100\n');
  const config = loadConfig({
    file,
    env: {
      LOGSTACK_HOST: '127.0.0.1',
      LOGSTACK_PORT: '9100',
      LOGSTACK_DEBUG: 'true',
      LOGSTACK_LOG_LEVEL: 'ERROR',
      LOGSTACK_SECURITY_RATE_LIMIT_RPS: '2000',
      LOGSTACK_SECURITY_RATE_LIMIT_BURST: '10000',
      LOGSTACK_SECURITY_ADMIN_TOKEN: 'your-admin-token-0123',
      LOGSTACK_WAL_ROOT_PATH: '/var/lib/logstack',
      LOGSTACK_WAL_SEGMENT_MAX_BYTES: '1048576',
      LOGSTACK_LOKI_BASE_URL: 'http://loki:3100',
      LOGSTACK_LOKI_TIMEOUT_SECONDS: '2.5',
    },
  });
  t.same(
    [config.server.host, config.server.port, config.server.debug, config.server.log_level],
    ['127.0.0.1', 9100, true, 'DEBUG'],
    'debug: true lowers ERROR to DEBUG',
  );
  t.same([config.security.rate_limit_rps, config.security.rate_limit_burst, config.security.admin_token], [2000, 10000, 'your-admin-token-0123']);
  t.same([config.wal.wal_root_path, config.wal.segment_max_bytes], ['/var/lib/logstack', 1048576]);
  t.same([config.loki.base_url, config.loki.timeout_seconds], ['http://loki:3100', 2.5]);
});

t.test('the systematic names work too; two names of one key must agree', async (t) => {
  t.equal(loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_SERVER_PORT: '9200' } }).server.port, 9200);
  t.equal(loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_WAL_WAL_ROOT_PATH: '/data/wal' } }).wal.wal_root_path, '/data/wal');
  t.equal(loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_PORT: '9200', LOGSTACK_SERVER_PORT: '9200' } }).server.port, 9200);
  const err = failure(() => loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_PORT: '9200', LOGSTACK_SERVER_PORT: '9300' } }));
  t.same(problemsOf(err), ['LOGSTACK_PORT, LOGSTACK_SERVER_PORT: both set server.port, to different values; set one of them']);
});

t.test('values are read by the type of their key', async (t) => {
  const { config, problems } = applyEnvOverrides(
    {},
    {
      LOGSTACK_LIMITS_MAX_ENTRIES: '+25',
      LOGSTACK_WAL_DISK_RESERVE_PERCENT: '7.5',
      LOGSTACK_LOKI_TIMEOUT_SECONDS: '1e1',
      LOGSTACK_WAL_SYNC: 'no',
      LOGSTACK_TRUST_PROXY: 'YES',
      LOGSTACK_DEBUG: '1',
      LOGSTACK_MASKING_PATTERNS_JWTS: 'False',
      LOGSTACK_MASKING_REPLACEMENT: '0',
      LOGSTACK_LOKI_ENCODING: 'json',
    },
  );
  t.same(problems, []);
  t.same(config, {
    server: { debug: true, trust_proxy: true },
    masking: { replacement: '0', patterns: { jwts: false } },
    limits: { max_entries: 25 },
    wal: { sync: false, disk_reserve_percent: 7.5 },
    loki: { timeout_seconds: 10, encoding: 'json' },
  });
});

t.test('a value that cannot be read is named by its variable', async (t) => {
  const err = failure(() =>
    loadConfig({
      cwd: t.testdir({}),
      env: { LOGSTACK_PORT: '80a', LOGSTACK_LIMITS_MAX_ENTRIES: '1.5', LOGSTACK_WAL_SYNC: 'perhaps', LOGSTACK_LOKI_TIMEOUT_SECONDS: 'soon' },
    }),
  );
  t.same(problemsOf(err), [
    'LOGSTACK_PORT (server.port): must be an integer (got "80a")',
    'LOGSTACK_LIMITS_MAX_ENTRIES (limits.max_entries): must be an integer (got "1.5")',
    'LOGSTACK_WAL_SYNC (wal.sync): must be a boolean: true/false, 1/0 or yes/no (got "perhaps")',
    'LOGSTACK_LOKI_TIMEOUT_SECONDS (loki.timeout_seconds): must be a number (got "soon")',
  ]);
});

t.test("a Kubernetes service link in LOGSTACK_PORT is recognised as such", async (t) => {
  const err = failure(() => loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_PORT: 'tcp://10.96.0.12:8000' } }));
  t.match(err.message, 'Kubernetes service link: set enableServiceLinks: false');
});

t.test('a value that reads but is out of range names the key and the variable', async (t) => {
  const err = failure(() => loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_WAL_SEGMENT_MAX_BYTES: '12' } }));
  t.equal(err.message, 'Invalid configuration: wal.segment_max_bytes: must be >= 4096 (got 12) (set by LOGSTACK_WAL_SEGMENT_MAX_BYTES)');
});

t.test('lists and maps are JSON and replace the file value', async (t) => {
  const file = configFile(t, 'masking:\n  baseline_keys: [password]\nloki:\n  static_labels:\n    cluster: a\n    region: b\n');
  const config = loadConfig({
    file,
    env: { LOGSTACK_MASKING_BASELINE_KEYS: '["ssn", "pin"]', LOGSTACK_LOKI_STATIC_LABELS: '{"cluster": "eu-1"}', LOGSTACK_LOKI_LABELS: '["service"]' },
  });
  t.same(config.masking.baseline_keys, ['ssn', 'pin']);
  t.same(config.loki.static_labels, { cluster: 'eu-1' });
  t.same(config.loki.labels, ['service']);
  const err = failure(() => loadConfig({ file, env: { LOGSTACK_MASKING_BASELINE_KEYS: '[ssn]', LOGSTACK_LOKI_STATIC_LABELS: '["x"]' } }));
  t.same(problemsOf(err), [
    'LOGSTACK_MASKING_BASELINE_KEYS (masking.baseline_keys): must be a JSON list (the value is not valid JSON)',
    'loki.static_labels: must be a mapping (got a list)',
  ]);
});

t.test('an empty variable counts as unset', async (t) => {
  const config = loadConfig({ file: configFile(t, 'server:\n  port: 8123\n'), env: { LOGSTACK_PORT: '', LOGSTACK_CONFIG: '', LOGSTACK_API_KEY_X_TOKEN: '' } });
  t.equal(config.server.port, 8123);
  t.same(config.security.api_keys, {});
});

t.test('LOGSTACK_SECURITY_API_KEYS adds keys to the file and replaces those with the same token', async (t) => {
  const config = loadConfig({
    file: configFile(t, TWO_KEYS),
    env: { LOGSTACK_SECURITY_API_KEYS: JSON.stringify({ [OTHER_FILE_TOKEN]: { name: 'users', active: false }, [JSON_TOKEN]: { name: 'json-key' } }) },
  });
  t.same(config.security.api_keys, {
    [FILE_TOKEN]: { name: 'payments-api', active: true, tenant: 'payments', masking: { extra_keys: ['iban'], exempt_keys: [], partial_rules: {}, disabled_rules: [], enabled_rules: [] } },
    [OTHER_FILE_TOKEN]: { name: 'users', active: false },
    [JSON_TOKEN]: { name: 'json-key', active: true },
  });
  const err = failure(() => loadConfig({ cwd: t.testdir({}), env: { LOGSTACK_SECURITY_API_KEYS: '["a"]' } }));
  t.same(problemsOf(err), ['LOGSTACK_SECURITY_API_KEYS: must be a JSON object of token → key']);
});

t.test('an individual key gets its name from its ID and is active unless told otherwise', async (t) => {
  const config = loadConfig({
    cwd: t.testdir({}),
    env: {
      LOGSTACK_API_KEY_PAYMENTS_EU_TOKEN: ENV_TOKEN,
      LOGSTACK_API_KEY_PAYMENTS_EU_DESCRIPTION: 'Payments service API key',
      LOGSTACK_API_KEY_PAYMENTS_EU_TENANT: 'payments',
      LOGSTACK_API_KEY_PAYMENTS_EU_RATE_LIMIT_RPS: '50',
      LOGSTACK_API_KEY_PAYMENTS_EU_MASKING: '{"exempt_keys": ["email"]}',
      LOGSTACK_API_KEY_USER_TOKEN: JSON_TOKEN,
      LOGSTACK_API_KEY_USER_NAME: 'user-service',
      LOGSTACK_API_KEY_USER_ACTIVE: 'false',
    },
  });
  t.same(config.security.api_keys, {
    [ENV_TOKEN]: {
      name: 'payments-eu',
      active: true,
      description: 'Payments service API key',
      tenant: 'payments',
      rate_limit_rps: 50,
      masking: { exempt_keys: ['email'], extra_keys: [], partial_rules: {}, disabled_rules: [], enabled_rules: [] },
    },
    [JSON_TOKEN]: { name: 'user-service', active: false },
  });
});

t.test('an individual key replaces, as a whole, the key with its token or its name', async (t) => {
  const config = loadConfig({
    file: configFile(t, TWO_KEYS),
    env: {
      LOGSTACK_SECURITY_API_KEYS: JSON.stringify({ [JSON_TOKEN]: { name: 'json-key' } }),
      LOGSTACK_API_KEY_PAY_TOKEN: FILE_TOKEN,
      LOGSTACK_API_KEY_PAY_NAME: 'payments-api',
      LOGSTACK_API_KEY_PAY_ACTIVE: 'no',
      LOGSTACK_API_KEY_ROTATED_TOKEN: ENV_TOKEN,
      LOGSTACK_API_KEY_ROTATED_NAME: 'User-Service',
      LOGSTACK_API_KEY_J_TOKEN: 'logstack_j_eeeeeeeeeeeeeeeeeeeeeee',
      LOGSTACK_API_KEY_J_NAME: 'json-key',
    },
  });
  t.same(config.security.api_keys, {
    [FILE_TOKEN]: { name: 'payments-api', active: false },
    [ENV_TOKEN]: { name: 'User-Service', active: true },
    logstack_j_eeeeeeeeeeeeeeeeeeeeeee: { name: 'json-key', active: true },
  });
});

t.test('individual keys that are incomplete, unknown or contradictory are named', async (t) => {
  const err = failure(() =>
    loadConfig({
      cwd: t.testdir({}),
      env: {
        LOGSTACK_API_KEY_A_NAME: 'a',
        LOGSTACK_API_KEY_B_TOKEN: ENV_TOKEN,
        LOGSTACK_API_KEY_B_ACTIV: 'false',
        LOGSTACK_API_KEY_C_TOKEN: ENV_TOKEN,
        LOGSTACK_API_KEY_D_TOKEN: JSON_TOKEN,
        LOGSTACK_API_KEY_D_ACTIVE: 'sometimes',
      },
    }),
  );
  t.same(problemsOf(err), [
    'LOGSTACK_API_KEY_B_ACTIV: is not a known variable; API keys are set by LOGSTACK_API_KEY_<ID>_<FIELD> with FIELD one of TOKEN, NAME, ACTIVE, DESCRIPTION, TENANT, MASKING, RATE_LIMIT_RPS, RATE_LIMIT_BURST, WAL_QUOTA_BYTES, TOKEN_FILE, CLIENT_SUBJECT',
    'LOGSTACK_API_KEY_D_ACTIVE: must be a boolean: true/false, 1/0 or yes/no (got "sometimes")',
    'LOGSTACK_API_KEY_A_TOKEN: is required (or LOGSTACK_API_KEY_A_TOKEN_FILE): other LOGSTACK_API_KEY_A_* variables are set',
    'LOGSTACK_API_KEY_B_*, LOGSTACK_API_KEY_C_*: give the same token; a token can be only one key',
  ]);
});

t.test('two individual keys with the same name are both kept: a rotation, or a conflict when their settings differ', async (t) => {
  const rotation = loadConfig({
    cwd: t.testdir({}),
    env: { LOGSTACK_API_KEY_A_TOKEN: ENV_TOKEN, LOGSTACK_API_KEY_A_NAME: 'svc', LOGSTACK_API_KEY_B_TOKEN: JSON_TOKEN, LOGSTACK_API_KEY_B_NAME: 'svc' },
  });
  t.same(Object.keys(rotation.security.api_keys).sort(), [ENV_TOKEN, JSON_TOKEN].sort());
  const err = failure(() =>
    loadConfig({
      cwd: t.testdir({}),
      env: { LOGSTACK_API_KEY_A_TOKEN: ENV_TOKEN, LOGSTACK_API_KEY_A_NAME: 'svc', LOGSTACK_API_KEY_B_TOKEN: JSON_TOKEN, LOGSTACK_API_KEY_B_NAME: 'svc', LOGSTACK_API_KEY_B_TENANT: 'x' },
    }),
  );
  t.match(err.message, 'security.api_keys: 2 keys are named "svc" (from LOGSTACK_API_KEY_A_*, LOGSTACK_API_KEY_B_*) with different tenant');
});

t.test('applyEnvOverrides leaves the file configuration as it was', async (t) => {
  const file = { server: { port: 1 } };
  applyEnvOverrides(file, { LOGSTACK_PORT: '2' });
  t.same(file, { server: { port: 1 } });
});

t.test('a file value that is not a mapping is left for validation to report', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, 'server: 8000\n'), env: { LOGSTACK_PORT: '9000' } }));
  t.same(problemsOf(err), ['server: must be a mapping (got a number 8000)']);
});

t.test('the config file: --config, else LOGSTACK_CONFIG, else ./config.yaml', async (t) => {
  t.same(resolveConfigPath('a.yaml', { LOGSTACK_CONFIG: 'b.yaml' }), { path: 'a.yaml', namedBy: '--config' });
  t.same(resolveConfigPath(undefined, { LOGSTACK_CONFIG: 'b.yaml' }), { path: 'b.yaml', namedBy: 'LOGSTACK_CONFIG' });
  t.same(resolveConfigPath(undefined, {}), { path: './config.yaml', namedBy: 'default' });
  t.same(resolveConfigPath('', { LOGSTACK_CONFIG: '' }), { path: './config.yaml', namedBy: 'default' });
});

t.test('the list of variables has the seed names, each name once', async (t) => {
  const vars = listEnvVars();
  const pathOf = new Map(vars.map((v) => [v.name, v.path]));
  t.equal(pathOf.size, vars.length, 'no name is listed twice');
  const seed: Record<string, string> = {
    LOGSTACK_HOST: 'server.host',
    LOGSTACK_PORT: 'server.port',
    LOGSTACK_DEBUG: 'server.debug',
    LOGSTACK_LOG_LEVEL: 'server.log_level',
    LOGSTACK_SECURITY_RATE_LIMIT_RPS: 'security.rate_limit_rps',
    LOGSTACK_SECURITY_RATE_LIMIT_BURST: 'security.rate_limit_burst',
    LOGSTACK_SECURITY_ADMIN_TOKEN: 'security.admin_token',
    LOGSTACK_SECURITY_API_KEYS: 'security.api_keys',
    'LOGSTACK_API_KEY_{ID}_TOKEN': 'security.api_keys.<token>',
    'LOGSTACK_API_KEY_{ID}_NAME': 'security.api_keys.<token>.name',
    'LOGSTACK_API_KEY_{ID}_ACTIVE': 'security.api_keys.<token>.active',
    'LOGSTACK_API_KEY_{ID}_DESCRIPTION': 'security.api_keys.<token>.description',
    LOGSTACK_WAL_ROOT_PATH: 'wal.wal_root_path',
    LOGSTACK_WAL_SEGMENT_MAX_BYTES: 'wal.segment_max_bytes',
    LOGSTACK_LOKI_BASE_URL: 'loki.base_url',
    LOGSTACK_LOKI_TIMEOUT_SECONDS: 'loki.timeout_seconds',
  };
  for (const [name, path] of Object.entries(seed)) t.equal(pathOf.get(name), path, name);
});

t.test('every key outside maps and lists has a variable, and each variable sets its key', async (t) => {
  const listed = new Set(listEnvVars().map((v) => v.path));
  const settable = schemaKeys().filter((k) => k.kind !== 'section' && !k.segments.some((s) => s === MAP_ENTRY || s === LIST_ITEM));
  for (const key of settable) t.ok(listed.has(key.segments.join('.')), `${key.segments.join('.')} has a variable`);

  const sample: Record<string, [string, unknown]> = {
    integer: ['7', 7],
    number: ['0.25', 0.25],
    'boolean: true/false, 1/0, yes/no': ['yes', true],
    string: ['text', 'text'],
    'JSON list': ['["x"]', ['x']],
    'JSON object': ['{"k": "v"}', { k: 'v' }],
  };
  for (const v of listEnvVars().filter((v) => !v.name.includes('{ID}') && v.path !== '--config' && v.path !== 'security.api_keys')) {
    const [raw, expected] = sample[v.format] ?? [v.format.replace(/^one of ([^,]+),.*$/, '$1'), v.format.replace(/^one of ([^,]+),.*$/, '$1')];
    const { config, problems } = applyEnvOverrides({}, { [v.name]: raw });
    const value = v.path.split('.').reduce<unknown>((node, segment) => (node as Record<string, unknown> | undefined)?.[segment], config);
    t.same([problems, value], [[], expected], `${v.name} sets ${v.path}`);
  }
});
