import t from 'tap';
import { maskByRule, maskNamedValue, maskObject, maskPairs, maskScalar, maskTree } from '../../src/masking/mask-value.js';
import { compileMaskingPolicy, type MaskingConfig, type MaskingPolicy } from '../../src/masking/policy.js';
import { testConfig } from '../support/config.js';

const MASKING: MaskingConfig = testConfig().masking;
const POLICY = compileMaskingPolicy(MASKING);

function policy(masking: Partial<MaskingConfig> = {}): MaskingPolicy {
  return compileMaskingPolicy({ ...MASKING, ...masking });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

t.test('masks baseline keys by their words at any depth, in arrays, in any case', async (t) => {
  const input = deepFreeze({
    password: 'hunter2',
    Token: 'abc',
    nested: { deeper: { API_KEY: 'ak_1', Secret: { any: 'shape' }, card_number: 4111111111111111, 'X-Api-Key': 'k' } },
    list: [{ secret: 'x' }, [{ PassWord: ['a', 'b'] }], 'plain'],
    user: { db_password: 'p', access_token: 't', clientSecret: 's' },
    fine: 'value',
    count: 3,
    flag: false,
    nothing: null,
  });
  t.same(maskObject(input, POLICY), {
    password: '****',
    Token: '****',
    nested: { deeper: { API_KEY: '****', Secret: '****', card_number: '****', 'X-Api-Key': '****' } },
    list: [{ secret: '****' }, [{ PassWord: '****' }], 'plain'],
    user: { db_password: '****', access_token: '****', clientSecret: '****' },
    fine: 'value',
    count: 3,
    flag: false,
    nothing: null,
  });
});

t.test('the key rules of the library mask what no baseline key names', async (t) => {
  const out = maskObject({ passwd: 'a', pwd: 'b', pass_word: 'c', refresh_token: 'd', cookie: 'sid=1; theme=x', 'set-cookie': 'id=2; Path=/', session: 'e', session_id: 'f', private_key: 'g', 'Proxy-Authorization': 'Digest abc', cvv: 123, 'user.password': 'h', 'password ': 'i', 'pa\u200bssword': 'j', 'p\u0430ssword': 'k' }, policy({ baseline_keys: [], partial_rules: {} }));
  t.same(out, {
    passwd: '****',
    pwd: '****',
    pass_word: '****',
    refresh_token: '****',
    cookie: 'sid=****; theme=****',
    'set-cookie': 'id=****; Path=/',
    session: '****',
    session_id: '****',
    private_key: '****',
    'Proxy-Authorization': 'Digest ****',
    cvv: '****',
    'user.password': '****',
    'password ': '****',
    'pa\u200bssword': '****',
    'p\u0430ssword': '****',
  });
});

t.test('names are matched in any case, also without consistent camelCase', async (t) => {
  t.same(maskObject({ pAsSwOrD: 'a', aUThoRizATIoN: 'b', TOKEN: 'c', tokenType: 'Bearer' }, POLICY), { pAsSwOrD: '****', aUThoRizATIoN: '****', TOKEN: '****', tokenType: 'Bearer' });
});

t.test('an object that names its value is masked by that name: environment variables, HAR headers, parameters', async (t) => {
  const out = maskObject(
    {
      env: [{ name: 'DB_PASSWORD', value: 'hunter2' }, { name: 'LOG_LEVEL', value: 'debug' }],
      headers: [{ name: 'X-Api-Key', value: 'k' }],
      Parameters: [{ Key: 'DbPassword', Value: 's3' }],
      reversed: { value: 'kept', name: 'password' },
    },
    POLICY,
  );
  t.same(out, {
    env: [{ name: 'DB_PASSWORD', value: '****' }, { name: 'LOG_LEVEL', value: 'debug' }],
    headers: [{ name: 'X-Api-Key', value: '****' }],
    Parameters: [{ Key: 'DbPassword', Value: '****' }],
    reversed: { value: 'kept', name: 'password' },
  }, 'the name first, as a JSON line is read');
  t.equal(POLICY.maskText('{"env":[{"name":"AWS_SECRET_ACCESS_KEY","value":"abc"},{"name":"HOME","value":"/root"}]}'), '{"env":[{"name":"AWS_SECRET_ACCESS_KEY","value":"****"},{"name":"HOME","value":"/root"}]}');
});

t.test('names that also count and switch (`pass`, `auth`, `session`) keep numbers, booleans and null', async (t) => {
  t.same(maskObject({ pass: 120, fail: 2, auth: false, session: true, other: null, x: { pass: 'hunter2', auth: 'dXNlcjpwYXNz', session: 'abc123', count: '12' } }, POLICY), {
    pass: 120,
    fail: 2,
    auth: false,
    session: true,
    other: null,
    x: { pass: '****', auth: '****', session: '****', count: '12' },
  });
  t.equal(POLICY.maskText('tests pass=128 fail=2 user=bob pass=hunter2'), 'tests pass=128 fail=2 user=bob pass=****');
  t.equal(POLICY.maskText('{"pass":128,"fail":2,"session":"abc"}'), '{"pass":128,"fail":2,"session":"****"}');
});

t.test('the words real configurations use', async (t) => {
  const out = maskObject({ SECRET_KEY_BASE: 'a', auth: 'dXNlcjpwYXNz', _auth: 'b', KEYSTORE_PASS: 'c', storepass: 'd', passin: 'e', APP_KEY: 'f' }, POLICY);
  t.same(out, { SECRET_KEY_BASE: '****', auth: '****', _auth: '****', KEYSTORE_PASS: '****', storepass: '****', passin: '****', APP_KEY: '****' });
});

t.test('applies the default partial rules to authorization and email', async (t) => {
  const out = maskObject({ http: { headers: { Authorization: 'Bearer sk_live_51H8abcdefghijklmnop' } }, user: { EMAIL: 'jane.doe0@example.com', contact_email: 'x.y@example.com' } }, POLICY);
  t.same(out, { http: { headers: { Authorization: 'Beare****' } }, user: { EMAIL: 'j*******0@example.com', contact_email: 'x*y@example.com' } });
  const odd = maskObject({ authorization: 12345678, email: { address: 'jane@example.com' }, Email: 'not an email' }, POLICY);
  t.same(odd, { authorization: '****', email: '****', Email: '****' }, 'values a partial rule cannot read are masked whole');
});

t.test('runs the text rules over the part a partial rule keeps', async (t) => {
  t.same(maskObject({ note: '4111111111111111 and more' }, policy({ partial_rules: { note: { keep_prefix: 20 } } })), { note: '****1111 and****' });
});

t.test('runs the text rules over every unmasked string; a string that is JSON by key', async (t) => {
  const out = maskObject(deepFreeze({ a: 'Bearer abc123', list: ['4111-1111-1111-1111', { deep: 'x eyJa.eyJb.sig' }], n: 4111111111111111, body: '{"password":"x","ok":true}', log: 'login password=hunter2 ok' }), POLICY);
  t.same(out, { a: 'Bearer ****', list: ['****1111', { deep: 'x ****' }], n: '****1111', body: '{"password":"****","ok":true}', log: 'login password=**** ok' });
});

t.test('masks card numbers sent as JSON numbers, leaving other numbers alone', async (t) => {
  const rounded = JSON.parse('6177503476599092006') as number;
  const out = maskObject({ pan: 4111111111111111, neg: -4111111111111111, rounded, order: 1234567890123, ms: 1758715200000, ns: 1758715200123456800, big: 1e30, float: 4111111111111111.5 }, POLICY);
  t.same(out, { pan: '****1111', neg: '-****1111', rounded: '****', order: 1234567890123, ms: 1758715200000, ns: 1758715200123456800, big: 1e30, float: 4111111111111111.5 });
  t.equal(maskScalar(rounded, policy({ disabled_rules: ['card-number'] })), rounded, 'the card rule switched off');
});

t.test('never masks keys, only values', async (t) => {
  const out = maskObject({ 'Bearer abc': 1, '4111111111111111': 'x', password: { 'Bearer y': 2 } }, POLICY);
  t.same(Object.keys(out), ['Bearer abc', '4111111111111111', 'password']);
  t.same(out, { 'Bearer abc': 1, '4111111111111111': 'x', password: '****' });
});

t.test('returns new objects and never changes its input', async (t) => {
  const input = deepFreeze({ password: 'p', nested: { list: [{ token: 't' }, 'Bearer x9'] }, keep: { same: 1 } });
  const before = JSON.stringify(input);
  const out = maskObject(input, POLICY);
  t.equal(JSON.stringify(input), before);
  t.not(out, input);
  t.not(out.keep, input.keep, 'even unchanged objects are copies');
  t.same(out.keep, { same: 1 });
});

t.test('a __proto__ key stays plain data in the masked copy', async (t) => {
  const input = JSON.parse('{"__proto__": {"admin": true, "password": "p"}, "constructor": {"prototype": {"admin": true}}}') as Record<string, unknown>;
  const out = maskObject(input, POLICY);
  t.same(Object.keys(out), ['__proto__', 'constructor']);
  t.equal(Object.getPrototypeOf(out), Object.prototype);
  t.same(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { admin: true, password: '****' });
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched');
});

t.test('handles unicode and empty strings', async (t) => {
  t.same(maskObject({ name: 'Zoë 🌍', empty: '', password: '', email: 'ü@例え.jp', 'ключ': 'значение' }, POLICY), { name: 'Zoë 🌍', empty: '', password: '****', email: '*@例え.jp', 'ключ': 'значение' });
});

t.test('a tree deeper than the walk goes is masked whole below that depth', async (t) => {
  let deep: unknown = { password: 'hunter2', note: 'ok' };
  for (let i = 0; i < 300; i++) deep = [deep];
  const masked = JSON.stringify(maskTree({ deep }, POLICY));
  t.notMatch(masked, 'hunter2');
  t.match(masked, '"****"');
  let shallow: unknown = { password: 'hunter2', note: 'ok' };
  for (let i = 0; i < 100; i++) shallow = [shallow];
  t.match(JSON.stringify(maskTree(shallow, POLICY)), '{"password":"****","note":"ok"}', 'within the depth: masked by key');
});

t.test('named values and pairs: by the name, else by the text rules', async (t) => {
  t.equal(maskNamedValue('x-api-key', 'abc', POLICY), '****');
  t.equal(maskNamedValue('trace', 'Bearer xyz123', POLICY), 'Bearer ****');
  t.equal(maskNamedValue('id', '42', POLICY), '42');
  t.same(maskPairs([['Token', 'abc'], ['email', 'jane.doe@example.com'], ['trace', 'Bearer xyz123'], ['id', '42'], ['db_password', 'x']], POLICY), [
    ['Token', '****'],
    ['email', 'j******e@example.com'],
    ['trace', 'Bearer ****'],
    ['id', '42'],
    ['db_password', '****'],
  ]);
  t.equal(maskByRule('****', { kind: 'keep_prefix', keep: 2 }, POLICY), '****', 'a masked value stays masked');
});

t.test('masks 1 MB strings', async (t) => {
  const big = `${'lorem ipsum '.repeat(87_000)}4111111111111111`;
  const out = maskObject({ note: big, password: big }, POLICY);
  t.ok((out.note as string).endsWith('****1111'));
  t.equal((out.note as string).length, big.length - 8);
  t.equal(out.password, '****');
});
