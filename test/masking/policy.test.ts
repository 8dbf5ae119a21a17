import fc from 'fast-check';
import t from 'tap';
import type { MaskingOverrideConfig } from '../../src/config/schema.js';
import { customPatternProblem } from '../../src/masking/custom-patterns.js';
import { isLogstackError } from '../../src/errors.js';
import { maskObject } from '../../src/masking/mask-value.js';
import { compileMaskingPolicy, compilePolicies, type MaskingConfig, type MaskingPolicy } from '../../src/masking/policy.js';
import { RULE_IDS, RULES } from '../../src/masking/rules.js';
import { testConfig } from '../support/config.js';

const MASKING: MaskingConfig = testConfig().masking;

function policy(override?: Partial<MaskingOverrideConfig>, masking: Partial<MaskingConfig> = {}): MaskingPolicy {
  const full = override === undefined ? undefined : { extra_keys: [], exempt_keys: [], partial_rules: {}, disabled_rules: [], enabled_rules: [], ...override };
  return compileMaskingPolicy({ ...MASKING, ...masking }, full);
}

t.test('the rules in force: defaults, less disabled, plus enabled, the key over the section', async (t) => {
  const defaults = policy();
  t.same([...defaults.rules].sort(), RULE_IDS.filter((id) => RULES.get(id)!.enabledByDefault).sort());
  t.notOk(defaults.rules.has('email-address'), 'e-mail addresses in text are off by default');
  t.notOk(policy(undefined, { disabled_rules: ['jwt'] }).rules.has('jwt'));
  t.ok(policy(undefined, { enabled_rules: ['email-address'] }).rules.has('email-address'));
  t.ok(policy({ enabled_rules: ['jwt'] }, { disabled_rules: ['jwt'] }).rules.has('jwt'), "the key's own setting wins");
  t.notOk(policy({ disabled_rules: ['card-number'] }).rules.has('card-number'));
});

t.test('the legacy pattern switches still switch their rules off', async (t) => {
  const off = policy(undefined, { patterns: { ...MASKING.patterns, card_numbers: false, bearer_tokens: false, jwts: false } });
  for (const id of ['card-number', 'bearer-token', 'jwt'] as const) t.notOk(off.rules.has(id), id);
  t.equal(off.maskText('c 4111111111111111 Bearer abc123 eyJa.eyJb.c'), 'c 4111111111111111 Bearer abc123 eyJa.eyJb.c');
  t.ok(policy({ enabled_rules: ['jwt'] }, { patterns: { ...MASKING.patterns, jwts: false } }).rules.has('jwt'), 'a key may switch it back on');
});

t.test('a key rule switched off no longer masks its names, in metadata or in text', async (t) => {
  const noSession = policy(undefined, { disabled_rules: ['key-session'] });
  t.same(maskObject({ session_id: 'abc', password: 'x' }, noSession), { session_id: 'abc', password: '****' });
  t.equal(noSession.maskText('session_id=abc password=x'), 'session_id=abc password=****');
  t.equal(policy().maskText('session_id=abc'), 'session_id=****');
});

t.test('precedence: own keys > exempt keys > partial rules > baseline keys > the library, longer phrases first', async (t) => {
  const metadata = { password: 'p', email: 'jane.doe@example.com', ssn: '123-45-6789', phone: '+441632960961', note: 'n', db_password: 'q' };
  t.same(maskObject(metadata, policy({ extra_keys: ['SSN'] })), { ...metadata, password: '****', email: 'j******e@example.com', ssn: '****', db_password: '****' });
  t.same(maskObject(metadata, policy({ exempt_keys: ['Password', 'email'] })), metadata, 'exempt from the baseline, the partial rules and the library, by words');
  t.same(maskObject(metadata, policy({ partial_rules: { phone: { keep_prefix: 3 }, email: { keep_prefix: 2 } } })), {
    ...metadata,
    password: '****',
    email: 'ja****',
    phone: '+44****',
    db_password: '****',
  });
  t.equal(maskObject(metadata, policy({ exempt_keys: ['note'], extra_keys: ['note'] })).note, '****', 'what the key asks to mask stays masked');
  const longer = policy(undefined, { partial_rules: { access_token: { keep_prefix: 3 } } });
  t.same(maskObject({ access_token: 'abcdef', token: 'abcdef' }, longer), { access_token: 'abc****', token: '****' }, 'a longer phrase beats a shorter one');
  t.same(maskObject({ session_token: 'x' }, policy({ exempt_keys: ['token'] })), { session_token: 'x' }, 'exempt `token` lifts the library rule for `session_token` too');
});

t.test('operator keys match by words: `api_key` masks X-Api-Key and apiKey, `email` masks user_email not email_verified', async (t) => {
  const out = maskObject({ 'X-Api-Key': 'a', apiKey: 'b', APIKEY: 'c', stripe_api_key: 'd', user_email: 'jane@example.com', email_verified: true, iban_number: 'x' }, policy({ extra_keys: ['iban number'] }));
  t.same(out, { 'X-Api-Key': '****', apiKey: '****', APIKEY: '****', stripe_api_key: '****', user_email: 'j**e@example.com', email_verified: true, iban_number: '****' });
});

t.test('custom patterns run after the rules, with $1 and $<name>', async (t) => {
  const custom = policy(undefined, {
    patterns: {
      ...MASKING.patterns,
      custom: [
        { name: 'ssn', pattern: String.raw`\b\d{3}-\d{2}-\d{4}\b`, flags: '', replacement: '***-**-****' },
        { name: 'session', pattern: 'SESSION=(\\w+)', flags: 'i', replacement: 'SESSION=[hidden]' },
        { name: 'iban', pattern: 'DE\\d{2}(?<rest>\\d{18})', flags: 'g', replacement: 'DE**…' },
        { name: 'user', pattern: 'user=(\\w)\\w*', flags: 'g', replacement: 'user=$1***' },
      ],
    },
  });
  t.equal(custom.maskText('ssn 123-45-6789 and 987-65-4321'), 'ssn ***-**-**** and ***-**-****');
  t.equal(custom.maskText('iban DE89370400440532013000'), 'iban DE**…');
  t.equal(custom.maskText('user=alice user=bob'), 'user=a*** user=b***');
  t.equal(custom.maskText('card 4111111111111111'), 'card ****1111', 'built-ins still apply');
  t.same(maskObject({ note: 'ssn 123-45-6789' }, custom), { note: 'ssn ***-**-****' }, 'in metadata too');
});

t.test('refuses custom patterns that cannot work, naming the key, quoting no pattern', async (t) => {
  const refusal = (pattern: string, flags = 'g'): string => {
    try {
      policy(undefined, { patterns: { ...MASKING.patterns, custom: [{ name: 'p1', pattern, flags, replacement: '*' }] } });
    } catch (err) {
      if (isLogstackError(err, 'CONFIG_INVALID')) return err.message;
      throw err;
    }
    throw new Error(`${pattern} was accepted`);
  };
  t.match(refusal('(unclosed_secret'), /custom\[0\]\.pattern \(p1\) is not a valid JavaScript regular expression \(Unterminated group\)/);
  t.notMatch(refusal('(unclosed_secret'), 'unclosed_secret');
  t.match(refusal('a*'), /matches the empty string/);
  t.match(refusal('a', 'gg'), /its flags are not valid/);
  t.equal(customPatternProblem({ name: 'ok', pattern: 'x+', flags: 'g', replacement: '*' }), null);
});

t.test('keys of one override share one policy; two names with different overrides are refused', async (t) => {
  const config = testConfig({
    security: {
      api_keys: {
        tok_a_0123456789abcdef: { name: 'a' },
        tok_b_0123456789abcdef: { name: 'b' },
        tok_c_0123456789abcdef: { name: 'c', masking: { extra_keys: ['iban'] } },
      },
    },
  });
  const policies = compilePolicies(config);
  t.equal(policies.get('a'), policies.get('b'));
  t.not(policies.get('a'), policies.get('c'));
  const clash = testConfig({ security: { api_keys: { tok_a_0123456789abcdef: { name: 'a' }, tok_d_0123456789abcdef: { name: 'a', masking: { extra_keys: ['x'] } } } } });
  t.throws(() => compilePolicies(clash), TypeError);
});

t.test('base64 padding is not a separator: a random run is not read as a name', async (t) => {
  // Read as a name, this run's last camelCase word would be `csc`, a card security code.
  const line = 'job batch=C4RI6v6KFIUQ checksum=SxmJXeAZWBTwTKmOEh7wzCiEqOYG3oeEh7y6vE6xCSC= cursor=eyJvZmZzZXQiOjIyMDU0OH0';
  t.equal(policy().maskText(line), line);
});

t.test('a name of any length is judged by its end', async (t) => {
  const p = policy();
  t.equal(p.ruleFor(`${'y'.repeat(10_000)}_password`)?.kind, 'full');
  t.equal(p.ruleFor(`password_${'y'.repeat(10_000)}`), undefined);
  for (let i = 0; i < 10_000; i++) p.ruleFor(`field_${i}`);
  t.same(p.ruleFor('db_password'), { kind: 'full' }, 'and names are judged right past the cache bound');
});

t.test('a secret under any spelling of a sensitive name is hidden, in metadata and in text (property)', async (t) => {
  const p = policy();
  const names = ['password', 'db_password', 'client_secret', 'access_token', 'api_key', 'x-api-key', 'private_key', 'session_id', 'passwd', 'secret', 'auth_token', 'credentials'];
  const spelled = fc.tuple(fc.constantFrom(...names), fc.array(fc.constantFrom('lower', 'upper', 'zero-width', 'cyrillic', 'full-width', 'space'), { minLength: 1, maxLength: 3 })).map(([name, ways]) =>
    ways.reduce((n, way) => {
      if (way === 'upper') return n.toUpperCase();
      if (way === 'zero-width') return `${n.slice(0, 2)}\u200b${n.slice(2)}`;
      if (way === 'cyrillic') return n.replace('a', '\u0430').replace('o', '\u043e');
      if (way === 'full-width') return [...n].map((c) => (c >= 'a' && c <= 'z' ? String.fromCharCode(c.charCodeAt(0) - 97 + 0xff41) : c)).join('');
      if (way === 'space') return `${n} `;
      return n.toLowerCase();
    }, name),
  );
  const secret = fc.stringMatching(/^[A-Za-z0-9!#$%*+\-_.~]{6,30}$/).map((s) => `S3cr${s}`);
  const shape = fc.constantFrom(
    (k: string, v: string) => `${k}=${v}`,
    (k: string, v: string) => `x=1 ${k}=${v} y=2`,
    (k: string, v: string) => `{"${k}":"${v}"}`,
    (k: string, v: string) => `payload {"a":1,"${k}": "${v}"} sent`,
    (k: string, v: string) => `${k}: ${v}`,
    (k: string, v: string) => `<${k.trim()}>${v}</${k.trim()}>`,
    (k: string, v: string) => `{'${k}': '${v}'}`,
  );
  fc.assert(
    fc.property(spelled, secret, shape, (name, value, write) => {
      const text = write(name, value);
      if (p.maskText(text).includes(value)) throw new Error(`${JSON.stringify(text)} → ${JSON.stringify(p.maskText(text))}`);
      if (JSON.stringify(maskObject({ outer: { [name]: value } }, p)).includes(value)) throw new Error(`metadata key ${JSON.stringify(name)}`);
    }),
    { numRuns: Number(process.env.PROPERTY_RUNS ?? 2000) },
  );
  t.pass('2,000 spellings and shapes');
});

t.test('a name whose trailing number is written in the digits of another script is the name without it', async (t) => {
  const policy = compileMaskingPolicy(MASKING);
  const text = policy.maskText('password\u0663=hunter1 password_\u0663=hunter2 api_key\u0662=hunter3 token\u06f5: hunter4 password3=hunter5');
  t.notMatch(text, /hunter/, `every value masked: ${text}`);
  const masked = maskObject({ 'password\u0663': 'hunter6', db_password_\u0663: 'hunter7', 'secret\u0967': 'hunter8' }, policy);
  t.notMatch(JSON.stringify(masked), /hunter/, 'and as metadata keys');
});
