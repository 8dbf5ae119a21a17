import { inspect } from 'node:util';
import t from 'tap';
import { configFile, failure, problemsOf } from '../support/config-files.js';
import { isLogstackError } from '../../src/errors.js';
import { loadConfig, pinoLevel } from '../../src/config/load.js';

const TOKEN_A = 'logstack_aaaaaaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'logstack_bbbbbbbbbbbbbbbbbbbbbbbb';
const ADMIN = 'logstack_admin_cccccccccccccccccc';

t.test('without a file, the defaults and the environment make the configuration', async (t) => {
  const config = loadConfig({ cwd: t.testdir({}), env: {} });
  t.equal(config.server.host, '0.0.0.0');
  t.equal(config.server.port, 8000);
  t.equal(config.wal.wal_root_path, './wal');
  t.equal(config.loki.base_url, 'http://localhost:3100');
  t.equal(config.security.rate_limit_rps, 1000);
  t.equal(config.security.rate_limit_burst, 2000);
  t.same(config.security.api_keys, {});
  t.same(config.masking.partial_rules, { authorization: { keep_prefix: 5 }, email: { mask_email: true } });
  t.equal(config.loki.encoding, 'protobuf');
  t.equal(config.wal.sync, true);
});

t.test('an empty file is the defaults', async (t) => {
  t.equal(loadConfig({ file: configFile(t, '# nothing yet\n'), env: {} }).server.port, 8000);
});

t.test('defaults fill in whatever the file leaves out, at every depth', async (t) => {
  const config = loadConfig({
    file: configFile(t, `server:\n  port: 9000\nsecurity:\n  api_keys:\n    ${TOKEN_A}:\n      name: payments-api\n      masking:\n        extra_keys: [iban]\n`),
    env: {},
  });
  t.equal(config.server.port, 9000);
  t.equal(config.server.log_level, 'INFO');
  t.same(config.security.api_keys[TOKEN_A], { name: 'payments-api', active: true, masking: { extra_keys: ['iban'], exempt_keys: [], partial_rules: {}, disabled_rules: [], enabled_rules: [] } });
  t.equal(config.masking.patterns.jwts, true);
  t.equal(config.loki.tls.insecure_skip_verify, false);
});

t.test('the file: --config, else LOGSTACK_CONFIG, else ./config.yaml', async (t) => {
  const dir = t.testdir({
    'config.yaml': 'server:\n  port: 1001\n',
    'from-env.yaml': 'server:\n  port: 1002\n',
    'from-argv.yaml': 'server:\n  port: 1003\n',
  });
  t.equal(loadConfig({ cwd: dir, env: {} }).server.port, 1001);
  t.equal(loadConfig({ cwd: dir, env: { LOGSTACK_CONFIG: 'from-env.yaml' } }).server.port, 1002);
  t.equal(loadConfig({ cwd: dir, file: 'from-argv.yaml', env: { LOGSTACK_CONFIG: 'from-env.yaml' } }).server.port, 1003);
});

t.test('a file that was named must exist', async (t) => {
  const dir = t.testdir({});
  const byArgument = failure(() => loadConfig({ cwd: dir, file: 'missing.yaml', env: {} }));
  t.ok(isLogstackError(byArgument, 'CONFIG_UNREADABLE'));
  t.equal(byArgument.message, 'Cannot read configuration file missing.yaml (named by --config): no such file');
  const byEnv = failure(() => loadConfig({ cwd: dir, env: { LOGSTACK_CONFIG: 'gone.yaml' } }));
  t.equal(byEnv.message, 'Cannot read configuration file gone.yaml (named by LOGSTACK_CONFIG): no such file');
});

t.test('a directory is not a readable configuration file', async (t) => {
  const dir = t.testdir({ 'conf.d': {} });
  const err = failure(() => loadConfig({ cwd: dir, file: 'conf.d', env: {} }));
  t.ok(isLogstackError(err, 'CONFIG_UNREADABLE'));
  t.match(err.message, /conf\.d .*it is a directory/);
});

t.test('a YAML syntax error is reported with its line and column, not with the text of the line', async (t) => {
  const file = configFile(t, `server:\n  port: 8000\nsecurity:\n  api_keys:\n    ${TOKEN_A}: {name: "payments-api"\n`);
  const err = failure(() => loadConfig({ file, env: {} }));
  t.ok(isLogstackError(err, 'CONFIG_UNREADABLE'));
  t.match(err.message, /YAML error [A-Z_]+ at line \d+, column \d+/);
  t.notMatch(inspect(err), TOKEN_A);
});

t.test('a duplicated key in the YAML is a syntax error', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, 'server:\n  port: 1\n  port: 2\n'), env: {} }));
  t.ok(isLogstackError(err, 'CONFIG_UNREADABLE'));
  t.match(err.message, /: YAML error DUPLICATE_KEY at line 3, column 3$/);
});

t.test('a file that is not a mapping is invalid', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, '- server\n- loki\n'), env: {} }));
  t.ok(isLogstackError(err, 'CONFIG_INVALID'));
  t.match(err.message, '(root): must be a mapping of sections');
});

t.test('an unknown key is named with the keys that would be valid there', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, 'server:\n  prot: 80\nlokki: {}\n'), env: {} }));
  t.ok(isLogstackError(err, 'CONFIG_INVALID'));
  t.same(problemsOf(err).sort(), [
    'lokki: unknown key (expected one of server, security, masking, limits, wal, loki, loki_push, otlp)',
    'server.prot: unknown key (expected one of host, port, debug, log_level, shutdown_timeout_seconds, request_timeout_seconds, headers_timeout_seconds, max_connections, max_pipelined_requests, trust_proxy, reload_on_change, tls)',
  ]);
});

t.test('a value of the wrong type is named; YAML strings are not coerced', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, 'server:\n  port: "8000"\n  debug: "yes"\n'), env: {} }));
  t.same(problemsOf(err), ['server.port: must be an integer (got a string "8000")', 'server.debug: must be a boolean (got a string "yes")']);
});

t.test('a value out of range is named with the limit and the value', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, 'wal:\n  segment_max_bytes: 12\n'), env: {} }));
  t.equal(err.message, 'Invalid configuration: wal.segment_max_bytes: must be >= 4096 (got 12)');
});

t.test('a value that fails a pattern or a set of allowed values is named', async (t) => {
  const file = configFile(t, 'loki:\n  encoding: xml\n  labels: [service, host]\n  base_url: "loki:3100"\n');
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), [
    'loki.base_url: must match the pattern ^https?:// (got "loki:3100")',
    'loki.encoding: must be one of protobuf, json (got "xml")',
    'loki.labels[1]: must be one of service, env, level (got "host")',
  ]);
});

t.test('a key of an API key is named by the key name, or by its position when the name is unusable: never by a part of its token', async (t) => {
  const file = configFile(t, `security:\n  api_keys:\n    ${TOKEN_A}:\n      name: payments-api\n      active: maybe\n    ${TOKEN_B}:\n      name: "user service"\n`);
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), [
    'security.api_keys[payments-api].active: must be a boolean (got a string "maybe")',
    'security.api_keys[#2].name: must match the pattern ^[A-Za-z0-9_.:-]{1,128}$ (got "user service")',
  ]);
});

t.test('a token must be at least 16 characters that can be sent as a Bearer token', async (t) => {
  const file = configFile(t, 'security:\n  api_keys:\n    too-short-token:\n      name: short\n    "token with spaces 1234":\n      name: spaced\n');
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), [
    'security.api_keys[short]: the token must be at least 16 characters long',
    'security.api_keys[spaced]: the token must match the pattern ^[A-Za-z0-9._~+/-]+=*$',
  ]);
});

t.test('a missing required key is named', async (t) => {
  const file = configFile(t, `security:\n  api_keys:\n    ${TOKEN_A}:\n      active: true\n`);
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), ['security.api_keys[#1].name: is required']);
});

t.test('every problem is reported at once', async (t) => {
  const err = failure(() => loadConfig({ file: configFile(t, 'server:\n  port: -1\nwal:\n  sync: 1\nlimits:\n  max_entries: 0\n'), env: {} }));
  t.match(err.message, /^Invalid configuration: 3 problems:\n {2}- server\.port: .*\n {2}- limits\.max_entries: .*\n {2}- wal\.sync: /);
});

t.test('two tokens of one name are one key in rotation: same spelling, same settings but active and description', async (t) => {
  const keys = (a: string, b: string) => configFile(t, `security:\n  api_keys:\n    ${TOKEN_A}:\n      name: payments-api\n${a}    ${TOKEN_B}:\n${b}`);
  const rotation = loadConfig({ file: keys('      tenant: pay\n', '      name: payments-api\n      tenant: pay\n      active: false\n      description: old\n'), env: {} });
  t.same(Object.values(rotation.security.api_keys).map((k) => [k.name, k.active]), [['payments-api', true], ['payments-api', false]]);
  t.same(problemsOf(failure(() => loadConfig({ file: keys('', '      name: Payments-API\n'), env: {} }))), [
    'security.api_keys: 2 keys are named "payments-api" and "Payments-API" (from the file); a name is a WAL directory and a metrics label, so its spellings must not differ only in case',
  ]);
  t.same(problemsOf(failure(() => loadConfig({ file: keys('      tenant: pay\n', '      name: payments-api\n      rate_limit_rps: 5\n'), env: {} }))), [
    'security.api_keys: 2 keys are named "payments-api" (from the file) with different tenant, rate_limit_rps; tokens of one name are one key (a rotation) and must agree on all but active and description',
  ]);
});

t.test('an API key name is not "." or ".."', async (t) => {
  const file = configFile(t, `security:\n  api_keys:\n    ${TOKEN_A}:\n      name: ".."\n`);
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), ['security.api_keys[#1].name: must not be "." or "..": the name becomes a directory']);
});

t.test('the admin token is none of the API tokens', async (t) => {
  const file = configFile(t, `security:\n  admin_token: ${TOKEN_A}\n  api_keys:\n    ${TOKEN_A}:\n      name: payments-api\n`);
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), [
    'security.admin_token: must differ from every API token; it is the token of security.api_keys[payments-api]',
  ]);
});

t.test('Loki settings that contradict each other are refused', async (t) => {
  const file = configFile(
    t,
    'loki:\n  backoff_initial_ms: 5000\n  backoff_max_ms: 1000\n  tls:\n    cert_file: client.pem\n  bearer_token: abc\n  headers:\n    Authorization: "Bearer xyz"\n',
  );
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), [
    'loki.backoff_initial_ms: must be <= loki.backoff_max_ms (got 5000 > 1000)',
    'loki.tls: cert_file and key_file go together: mutual TLS needs both',
    'loki.bearer_token, loki.headers.Authorization: each sets the Authorization header of the pushes; set only one',
  ]);
});

t.test('a body budget smaller than the largest body is refused: that body could never be read', async (t) => {
  const file = configFile(t, 'limits:\n  max_body_bytes: 2048\n  max_body_bytes_in_flight: 2047\n');
  t.same(problemsOf(failure(() => loadConfig({ file, env: {} }))), ['limits.max_body_bytes_in_flight: must be >= limits.max_body_bytes (got 2047 < 2048)']);
  t.equal(loadConfig({ file: configFile(t, 'limits:\n  max_body_bytes: 2048\n  max_body_bytes_in_flight: 2048\n'), env: {} }).limits.max_body_bytes_in_flight, 2048);
});

t.test("a key's share of the body budget is between the largest body and the whole budget; unset, it follows a budget that is set", async (t) => {
  const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ file: configFile(t, `limits:\n${yaml}`), env }).limits;
  const refused = (yaml: string, env: NodeJS.ProcessEnv = {}) => problemsOf(failure(() => loadConfig({ file: configFile(t, `limits:\n${yaml}`), env })));
  t.same(refused('  max_body_bytes_in_flight: 33554432\n  max_body_bytes_in_flight_per_key: 33554433\n'), [
    'limits.max_body_bytes_in_flight_per_key: must be <= limits.max_body_bytes_in_flight (got 33554433 > 33554432): it is one key\'s share of that budget',
  ]);
  t.same(refused('  max_body_bytes: 2048\n  max_body_bytes_in_flight_per_key: 2047\n'), ['limits.max_body_bytes_in_flight_per_key: must be >= limits.max_body_bytes (got 2047 < 2048)']);
  t.same(refused('  max_body_bytes: 1024\n', { LOGSTACK_LIMITS_MAX_BODY_BYTES_IN_FLIGHT_PER_KEY: '67108865' }), [
    'limits.max_body_bytes_in_flight_per_key: must be <= limits.max_body_bytes_in_flight (got 67108865 > 67108864): it is one key\'s share of that budget',
  ]);
  t.equal(load('  max_body_bytes_in_flight_per_key: 33554432\n').max_body_bytes_in_flight_per_key, 33554432);
  t.equal(load('  max_body_bytes_in_flight_per_key: 33554432\n').max_body_bytes_in_flight, 67108864);
  t.equal(load('  max_body_bytes: 1024\n').max_body_bytes_in_flight_per_key, 54525952, 'by default 52 MiB of 64');
  t.equal(load('  max_body_bytes_in_flight: 16777216\n').max_body_bytes_in_flight_per_key, 16777216, 'a budget set lower before keys had a share still starts');
  t.equal(load('  max_body_bytes_in_flight: 134217728\n').max_body_bytes_in_flight_per_key, 134217728, 'a budget raised for larger pushes still takes them');
  t.equal(load('  max_body_bytes_in_flight: 16777216\n  max_body_bytes_in_flight_per_key: 8388608\n').max_body_bytes_in_flight_per_key, 8388608);
});

t.test('server.tls settings that cannot work together are refused, each by its key', async (t) => {
  const problems = (tls: string, key = '') =>
    problemsOf(failure(() => loadConfig({ file: configFile(t, `server:\n  tls:\n${tls}\nsecurity:\n  api_keys:\n    ${TOKEN_A}:\n      name: payments-api\n${key}`), env: {} })));
  t.same(problems('    cert_file: /tls/tls.crt'), ['server.tls: cert_file and key_file go together: HTTPS needs both']);
  t.same(problems('    client_auth: require\n    client_ca_file: /tls/ca.crt'), [
    'server.tls: client_auth and client_ca_file need cert_file and key_file: client certificates are asked for in a TLS handshake',
  ]);
  t.same(problems('    cert_file: /tls/tls.crt\n    key_file: /tls/tls.key\n    client_auth: request'), [
    'server.tls.client_ca_file: is required with client_auth request: it says which client certificates are accepted',
  ]);
  t.same(problems('    cert_file: /tls/tls.crt\n    key_file: /tls/tls.key\n    client_ca_file: /tls/ca.crt'), [
    'server.tls.client_auth: is none, so client_ca_file is not used; set client_auth to request or require',
  ]);
  t.same(problems('    cert_file: /tls/tls.crt\n    key_file: /tls/tls.key', '      client_subject: payments-api\n'), [
    'security.api_keys[payments-api].client_subject: needs server.tls.client_auth request or require: without a verified client certificate no request with this key would be accepted',
  ]);
  t.same(problems('    min_version: TLSv1.1'), ['server.tls.min_version: must be one of TLSv1.2, TLSv1.3 (got "TLSv1.1")']);
  const mutual = loadConfig({
    file: configFile(t, `server:\n  tls:\n    cert_file: /tls/tls.crt\n    key_file: /tls/tls.key\n    client_ca_file: /tls/ca.crt\n    client_auth: request\nsecurity:\n  api_keys:\n    ${TOKEN_A}:\n      name: payments-api\n      client_subject: payments-api\n`),
    env: { LOGSTACK_TLS_MIN_VERSION: 'TLSv1.3' },
  });
  t.same(mutual.server.tls, { cert_file: '/tls/tls.crt', key_file: '/tls/tls.key', client_ca_file: '/tls/ca.crt', client_auth: 'request', min_version: 'TLSv1.3' });
});

t.test('log levels: Python names, any case, and debug: true', async (t) => {
  const level = (yaml: string) => {
    const config = loadConfig({ file: configFile(t, yaml), env: {} });
    return [config.server.log_level, pinoLevel(config)];
  };
  t.same(level('server:\n  log_level: WARNING\n'), ['WARN', 'warn']);
  t.same(level('server:\n  log_level: critical\n'), ['FATAL', 'fatal']);
  t.same(level('server:\n  log_level: error\n'), ['ERROR', 'error']);
  t.same(level('server:\n  debug: true\n'), ['DEBUG', 'debug']);
  t.same(level('server:\n  debug: true\n  log_level: TRACE\n'), ['TRACE', 'trace']);
  t.same(level('server:\n  debug: true\n  log_level: SILENT\n'), ['DEBUG', 'debug']);
  t.equal(pinoLevel({ server: { debug: false, log_level: 'Warning' } }), 'warn');
});

t.test('no message shows a token, the admin token or a Loki credential', async (t) => {
  const secrets = [TOKEN_A, TOKEN_B, ADMIN, 'tok_too_short', 'loki-password-1', 'loki-bearer-12345', 'header-secret-99', 's3cretpass', 'Sl4shPass', 'At4Pass', 'Sp4cePass'];
  const cases: { name: string; yaml: string; env?: NodeJS.ProcessEnv }[] = [
    { name: 'admin token too short', yaml: 'security:\n  admin_token: tok_too_short\n' },
    { name: 'admin token of the wrong type', yaml: 'security:\n  admin_token: 123456789012345678\n' },
    { name: 'a token too short', yaml: 'security:\n  api_keys:\n    tok_too_short:\n      name: x\n' },
    { name: 'a token given as the value of a name', yaml: `security:\n  api_keys:\n    payments:\n      ${TOKEN_A}\n` },
    { name: 'a token used as the name of another key', yaml: `security:\n  api_keys:\n    ${TOKEN_A}:\n      name: a\n    ${TOKEN_B}:\n      name: ${TOKEN_A}\n      active: 3\n` },
    { name: 'the admin token is an API token', yaml: `security:\n  admin_token: ${TOKEN_A}\n  api_keys:\n    ${TOKEN_A}:\n      name: ${TOKEN_A}\n` },
    { name: 'Loki credentials of the wrong shape', yaml: 'loki:\n  basic_auth:\n    username: 7\n    password: loki-password-1\n    pass: loki-password-1\n  bearer_token: loki-bearer-12345\n  headers:\n    "X Bad": header-secret-99\n' },
    { name: 'a credential in a URL', yaml: 'loki:\n  base_url: "ftp://user:s3cretpass@loki:3100"\n' },
    { name: 'a credential holding a slash in a URL', yaml: 'loki:\n  base_url: "ftp://user:x/Sl4shPass@loki:3100"\n' },
    { name: 'a credential holding an @ in a URL', yaml: 'loki:\n  base_url: "ftp://user:x@At4Pass@loki:3100"\n' },
    { name: 'a credential holding a space in a URL', yaml: 'loki:\n  base_url: "ftp://user:x Sp4cePass@loki:3100"\n' },
    { name: 'tokens in a variable that is not JSON', yaml: '', env: { LOGSTACK_SECURITY_API_KEYS: `{"${TOKEN_A}": {"name": "a"},` } },
    { name: 'a token from a variable that is too short', yaml: '', env: { LOGSTACK_API_KEY_PAY_TOKEN: 'tok_too_short', LOGSTACK_SECURITY_ADMIN_TOKEN: ADMIN, LOGSTACK_WAL_SYNC: 'perhaps' } },
    { name: 'a YAML error on a token line', yaml: `security:\n  api_keys:\n    ${TOKEN_A}: [\n` },
    { name: 'a block scalar header that is a secret', yaml: 'loki:\n  basic_auth:\n    username: u\n    password: |loki-password-1\n' },
    { name: 'a folded scalar header that is a secret', yaml: 'loki:\n  bearer_token: >loki-bearer-12345\n' },
    { name: 'an alias that is a secret', yaml: `security:\n  admin_token: *${ADMIN}\n` },
    { name: 'a duplicated key in an ordered map', yaml: 'loki:\n  headers: !!omap\n    - header-secret-99: a\n    - header-secret-99: b\n' },
  ];
  cases.push(
    { name: 'a credential in a URL that does not parse', yaml: 'loki:\n  base_url: "http://user:s3cretpass@loki:99999"\n' },
    { name: 'a credential in a URL beside another problem', yaml: 'loki:\n  base_url: "http://user:s3cretpass@loki:3100"\nwal:\n  sync: 2\n' },
  );
  for (const c of cases) {
    const err = failure(() => loadConfig({ file: configFile(t, c.yaml), env: c.env ?? {} }));
    const shown = `${inspect(err, { depth: 10 })}\n${JSON.stringify(err.details)}`;
    t.notOk(secrets.some((s) => shown.includes(s)), `${c.name}: ${err.message}`);
  }
});

t.test('no message shows even the first characters of a token', async (t) => {
  // Tokens that start with what no message holds: a prefix narrows the search for a token.
  const tokens = ['QwEr_0123456789abcdefgh', 'ZxCv_0123456789abcdefgh', 'AsDf_0123456789abcdefgh'];
  const cases = [
    `security:\n  api_keys:\n    ${tokens[0]}:\n      name: a\n    ${tokens[1]}:\n      active: 3\n`,
    `security:\n  api_keys:\n    ${tokens[0]}:\n      name: "has space"\n`,
    `security:\n  api_keys:\n    ${tokens[0]}:\n      name: ".."\n`,
    `security:\n  admin_token: ${tokens[2]}\n  api_keys:\n    ${tokens[2]}:\n      name: "bad name"\n`,
    `security:\n  api_keys:\n    ${tokens[0]}:\n      name: a\n      colour: blue\n`,
  ];
  for (const yaml of cases) {
    const err = failure(() => loadConfig({ file: configFile(t, yaml), env: {} }));
    const shown = `${inspect(err, { depth: 10 })}\n${JSON.stringify(err.details)}`;
    t.notOk(tokens.some((token) => shown.includes(token.slice(0, 4))), err.message);
  }
  const unnamed = failure(() => loadConfig({ file: configFile(t, cases[0]!), env: {} }));
  t.same(problemsOf(unnamed), ['security.api_keys[#2].name: is required', 'security.api_keys[#2].active: must be a boolean (got a number 3)']);
});

t.test('loki.base_url must be a URL the parser reads, not only start with http(s)://', async (t) => {
  t.same(problemsOf(failure(() => loadConfig({ file: configFile(t, 'loki:\n  base_url: "http://loki:99999"\n'), env: {} }))), [
    'loki.base_url: is not a valid URL (check the host, the port and the characters of the user and password)',
  ]);
  t.equal(loadConfig({ file: configFile(t, 'loki:\n  base_url: "https://user:pass@loki.example.com/tenant-a"\n'), env: {} }).loki.base_url, 'https://user:pass@loki.example.com/tenant-a');
});

t.test('custom patterns are compiled at load: a bad one is a problem of its key', async (t) => {
  const yaml = 'masking:\n  patterns:\n    custom:\n      - name: ok\n        pattern: "O-[0-9]+"\n      - name: open\n        pattern: "(O-[0-9]+"\n      - name: all\n        pattern: "x*"\n';
  t.same(problemsOf(failure(() => loadConfig({ file: configFile(t, yaml), env: {} }))), [
    'masking.patterns.custom[1].pattern: (open) is not a valid JavaScript regular expression (Unterminated group)',
    'masking.patterns.custom[2].pattern: (all) matches the empty string, so it would rewrite every value',
  ]);
});

t.test('rules are named by their ids', async (t) => {
  const config = loadConfig({ file: configFile(t, 'masking:\n  disabled_rules: [key-session]\n  enabled_rules: [email-address]\n'), env: { LOGSTACK_API_KEY_PAY_TOKEN: TOKEN_A, LOGSTACK_API_KEY_PAY_MASKING: '{"disabled_rules":["jwt"]}' } });
  t.same(config.masking.disabled_rules, ['key-session']);
  t.same(config.security.api_keys[TOKEN_A]?.masking?.disabled_rules, ['jwt']);
  const err = failure(() => loadConfig({ file: configFile(t, 'masking:\n  disabled_rules: [no-such-rule]\n'), env: {} }));
  t.match(problemsOf(err)[0], /^masking\.disabled_rules\[0\]: must be one of key-password, .* \(got "no-such-rule"\)$/);
});

t.test('a config with 150,000 API keys is refused for a bad value without overflowing the stack, and names no token', async (t) => {
  const keys: Record<string, { name: string }> = {};
  for (let i = 0; i < 150_000; i++) keys[`tok_${String(i).padStart(16, '0')}`] = { name: `k${i}` };
  const env = { LOGSTACK_SECURITY_API_KEYS: JSON.stringify(keys), LOGSTACK_PORT: 'not-a-port' };
  const err = failure(() => loadConfig({ file: configFile(t, 'server: {}\n'), env }));
  t.ok(isLogstackError(err, 'CONFIG_INVALID'));
  t.notMatch(err.message, /tok_0000/);
});
