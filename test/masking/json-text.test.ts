import fc from 'fast-check';
import t from 'tap';
import { maskLine } from '../../src/masking/json-text.js';
import { maskPairs } from '../../src/masking/mask-value.js';
import { compileMaskingPolicy } from '../../src/masking/policy.js';
import { maskEntry } from '../../src/pipeline/mask-entry.js';
import { compileValuePatterns } from '../../src/masking/value-patterns.js';
import { testConfig } from '../support/config.js';

const { masking } = testConfig();
const maskText = compileValuePatterns(masking.patterns, masking.replacement);
const policy = compileMaskingPolicy(masking, undefined, maskText);

t.test('a JSON line is masked like metadata: baseline keys at any depth, any case, inside arrays', async (t) => {
  const line = JSON.stringify({ msg: 'login', user: { name: 'jane', Password: 'hunter2', tokens: [{ token: 'abc' }] }, secret: { nested: 1 }, api_key: 42 });
  t.same(JSON.parse(maskLine(line, policy)), {
    msg: 'login',
    user: { name: 'jane', Password: '****', tokens: [{ token: '****' }] },
    secret: '****',
    api_key: '****',
  });
});

t.test('partial rules and value patterns in a JSON line', async (t) => {
  const line = JSON.stringify({ email: 'jane.doe@example.com', authorization: 'Bearer abc.def.ghi', note: 'card 4111-1111-1111-1111', id: 4111111111111111, n: 1234567890123 });
  t.same(JSON.parse(maskLine(line, policy)), {
    email: 'j******e@example.com',
    authorization: 'Beare****',
    note: 'card ****1111',
    id: '****1111',
    n: 1234567890123,
  });
});

t.test('per-token overrides apply to lines and pairs', async (t) => {
  const own = compileMaskingPolicy(masking, { extra_keys: ['iban'], exempt_keys: ['email'], partial_rules: { phone: { keep_prefix: 3 } } }, maskText);
  t.equal(maskLine('{"iban":"DE89370400440532013000","email":"jane@example.com","phone":"+49301234567"}', own), '{"iban":"****","email":"jane@example.com","phone":"+49****"}');
  t.same(maskPairs([['IBAN', 'DE89'], ['user', 'jane']], own), [['IBAN', '****'], ['user', 'jane']]);
});

t.test('a JSON line is rewritten in place: spacing, order, duplicate keys and big numbers are kept', async (t) => {
  const line = '{ "b": 1,  "password" : "x", "a": [1, 2.50, 1e3], "password": {"deep": true}, "big": 123456789012345678901234567890, "esc": "\\u0041\\n" }';
  t.equal(maskLine(line, policy), '{ "b": 1,  "password" : "****", "a": [1, 2.50, 1e3], "password": "****", "big": 123456789012345678901234567890, "esc": "\\u0041\\n" }');
  const clean = '{"level":30,"time":1700000000000,"msg":"nothing to hide","tags":["a","b"],"ok":true,"none":null}';
  t.equal(maskLine(clean, policy), clean, 'nothing to mask: the line is the same string');
});

t.test('escaped keys and values are decoded before they are judged', async (t) => {
  t.equal(maskLine('{"pass\\u0077ord":"hunter2"}', policy), '{"pass\\u0077ord":"****"}');
  t.equal(maskLine('{"msg":"Bearer\\u0020sk_live_0123456789"}', policy), '{"msg":"Bearer ****"}');
});

t.test('lines that are not JSON objects are masked as text', async (t) => {
  for (const line of [
    'password=hunter2 card 4111 1111 1111 1111',
    '{"truncated": "card 4111 1111 1111 1111"',
    '{"a": 1} trailing card 4111 1111 1111 1111',
    '["card 4111 1111 1111 1111"]',
    '{"ctrl": "tab\there 4111 1111 1111 1111"}',
    `${'['.repeat(300)}`,
  ]) {
    t.equal(maskLine(line, policy), maskText(line), JSON.stringify(line.slice(0, 40)));
  }
  t.equal(maskLine('level=info msg="paid with 4111 1111 1111 1111"', policy), 'level=info msg="paid with ****1111"');
  const deep = `{"a":${'['.repeat(300)}"4111 1111 1111 1111"${']'.repeat(300)}}`;
  t.notOk(maskLine(deep, policy).includes('4111 1111'), 'too deep for the JSON walk: masked as text all the same');
});

t.test('pairs are masked by name, else by value pattern', async (t) => {
  t.same(maskPairs([['Token', 'abc'], ['email', 'jane.doe@example.com'], ['trace', 'Bearer xyz'], ['id', '42']], policy), [
    ['Token', '****'],
    ['email', 'j******e@example.com'],
    ['trace', 'Bearer ****'],
    ['id', '42'],
  ]);
});

t.test('a JSON line is masked exactly as the same object in metadata is', async (t) => {
  const key = fc.oneof(fc.constantFrom('password', 'Token', 'email', 'authorization', 'msg', 'id', 'user'), fc.string({ maxLength: 6 }));
  const leaf = fc.oneof(
    fc.string(),
    fc.constantFrom('jane.doe@example.com', 'Bearer abc.def', '4111 1111 1111 1111', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig'),
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
      const viaMetadata = maskEntry({ timestamp: '', level: 'INFO', message: 'm', service: 's', env: 'e', metadata }, policy).metadata;
      t.same(JSON.parse(maskLine(JSON.stringify(metadata), policy)), viaMetadata);
    }),
    { numRuns: 300 },
  );
});
