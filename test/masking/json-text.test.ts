import fc from 'fast-check';
import t from 'tap';
import { maskJsonText } from '../../src/masking/json-text.js';
import { maskObject, maskPairs } from '../../src/masking/mask-value.js';
import { compileMaskingPolicy } from '../../src/masking/policy.js';
import { testConfig } from '../support/config.js';

const { masking } = testConfig();
const policy = compileMaskingPolicy(masking);
const maskLine = (line: string) => policy.maskText(line);

t.test('a JSON line is masked like metadata: keys by their words at any depth, any case, inside arrays', async (t) => {
  const line = JSON.stringify({ msg: 'login', user: { name: 'jane', Password: 'hunter2', tokens: [{ token: 'abc' }] }, secret: { nested: 1 }, api_key: 42, db_password: 'x', 'X-Api-Key': 'y' });
  t.same(JSON.parse(maskLine(line)), {
    msg: 'login',
    user: { name: 'jane', Password: '****', tokens: [{ token: '****' }] },
    secret: '****',
    api_key: '****',
    db_password: '****',
    'X-Api-Key': '****',
  });
});

t.test('partial rules and the text rules in a JSON line', async (t) => {
  const line = JSON.stringify({ email: 'jane.doe@example.com', authorization: 'Bearer abc.def.ghi', note: 'card 4111-1111-1111-1111', id: 4111111111111111, n: 1234567890123, msg: 'password=hunter2' });
  t.same(JSON.parse(maskLine(line)), {
    email: 'j******e@example.com',
    authorization: 'Beare****',
    note: 'card ****1111',
    id: '****1111',
    n: 1234567890123,
    msg: 'password=****',
  });
});

t.test('numbers: integers are checked as cards with all their digits, decimals never', async (t) => {
  t.equal(maskLine('{"pan": 6011111111111117}'), '{"pan": "****1117"}');
  t.equal(maskLine('{"pan": 6221260000000000001}'), '{"pan": "****0001"}', 'a 19-digit card keeps its digits in the text: checked exactly');
  t.equal(maskLine('{"t": 57.648836774751544, "u": 4111111111111111e0}'), '{"t": 57.648836774751544, "u": 4111111111111111e0}');
  t.equal(maskLine('{"big": 123456789012345678901234567890}'), '{"big": 123456789012345678901234567890}');
});

t.test('per-token overrides apply to lines and pairs', async (t) => {
  const own = compileMaskingPolicy(masking, { extra_keys: ['iban'], exempt_keys: ['email'], partial_rules: { phone: { keep_prefix: 3 } }, disabled_rules: [], enabled_rules: [] });
  t.equal(own.maskText('{"iban":"DE89370400440532013000","email":"jane@example.com","phone":"+49301234567"}'), '{"iban":"****","email":"jane@example.com","phone":"+49****"}');
  t.same(maskPairs([['IBAN', 'DE89'], ['user', 'jane']], own), [['IBAN', '****'], ['user', 'jane']]);
});

t.test('a JSON line is rewritten in place: spacing, order, duplicate keys and big numbers are kept', async (t) => {
  const line = '{ "b": 1,  "password" : "x", "a": [1, 2.50, 1e3], "password": {"deep": true}, "big": 123456789012345678901234567890, "esc": "\\u0041\\n" }';
  t.equal(maskLine(line), '{ "b": 1,  "password" : "****", "a": [1, 2.50, 1e3], "password": "****", "big": 123456789012345678901234567890, "esc": "\\u0041\\n" }');
  const clean = '{"level":30,"time":1700000000000,"msg":"nothing to hide","tags":["a","b"],"ok":true,"none":null}';
  t.equal(maskLine(clean), clean, 'nothing to mask: the line is the same string');
  t.equal(maskLine('[{"password":"x"},{"a":[]}]'), '[{"password":"****"},{"a":[]}]', 'a JSON array');
  t.equal(maskLine('  {"token":null, "secret": false, "empty": {}}  '), '  {"token":"****", "secret": "****", "empty": {}}  ');
});

t.test('escaped keys and values are decoded before they are judged', async (t) => {
  t.equal(maskLine('{"pass\\u0077ord":"hunter2"}'), '{"pass\\u0077ord":"****"}');
  t.equal(maskLine('{"msg":"Bearer\\u0020sk_live_0123456789"}'), '{"msg":"Bearer ****"}');
  t.equal(maskLine('{"msg":"{\\"password\\":\\"hunter2\\"}"}'), '{"msg":"{\\"password\\":\\"****\\"}"}', 'JSON inside a JSON string');
});

t.test('a line nested deeper than any limit is still masked by key', async (t) => {
  const depth = 10_000;
  const deep = `{"a":${'['.repeat(depth)}{"password":"hunter2","note":"4111 1111 1111 1111"}${']'.repeat(depth)}}`;
  const masked = maskLine(deep);
  t.notMatch(masked, 'hunter2');
  t.notMatch(masked, '4111 1111');
  t.match(masked, '{"password":"****","note":"****1111"}');
  const coveredDeep = `{"password":${'['.repeat(depth)}"x"${']'.repeat(depth)},"ok":1}`;
  t.equal(maskLine(coveredDeep), '{"password":"****","ok":1}', 'a deep value under a masked key is replaced whole');
});

t.test('lines that are not JSON are masked as text', async (t) => {
  const masker = (line: string) => maskJsonText(line, { ruleFor: () => undefined, maskByRule: () => 'x', maskText: (s) => s, maskNumber: (s) => s });
  for (const line of ['password=hunter2', '{"truncated": "x"', '{"a": 1} trailing', '{"ctrl": "tab\there"}', `${'['.repeat(300)}`, '{"a":01}', '{"a":-}', '{"a" 1}', '{,}', '[1,]', '{"\\x":1}']) {
    t.equal(masker(line), null, JSON.stringify(line.slice(0, 40)));
  }
  t.equal(maskLine('level=info msg="paid with 4111 1111 1111 1111"'), 'level=info msg="paid with ****1111"');
  t.equal(maskLine('{"truncated": "password":"hunter2"'), '{"truncated": "password":"****"', 'not JSON: the named values in it all the same');
});

t.test('a JSON line is masked exactly as the same object in metadata is', async (t) => {
  const key = fc.oneof(fc.constantFrom('password', 'Token', 'email', 'authorization', 'msg', 'id', 'user', 'db_password', 'cookie', 'session_id'), fc.string({ maxLength: 6 }));
  const leaf = fc.oneof(
    fc.string(),
    fc.constantFrom('jane.doe@example.com', 'Bearer abc.def1', '4111 1111 1111 1111', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'password=hunter2', 'sid=abc; Path=/'),
    fc.integer(),
    fc.constantFrom(4111111111111111, 5555555555554444, 1700000000000),
    fc.boolean(),
    fc.constant(null),
  );
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(key, tie('tree'), { maxKeys: 4 })),
  }));
  fc.assert(
    fc.property(fc.dictionary(key, tree, { maxKeys: 5 }), (metadata) => {
      t.same(JSON.parse(maskLine(JSON.stringify(metadata))), maskObject(metadata, policy));
    }),
    { numRuns: 300 },
  );
});
