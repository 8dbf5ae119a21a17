import fc from 'fast-check';
import t from 'tap';
import type { MaskingOverrideConfig } from '../../src/config/schema.js';
import { isLogstackError } from '../../src/errors.js';
import { LuhnPrefix } from '../../src/masking/luhn.js';
import { compileMaskingPolicy, type MaskingConfig, type MaskingPolicy } from '../../src/masking/policy.js';
import { maskEntry } from '../../src/pipeline/mask-entry.js';
import { keepPrefix, maskEmail } from '../../src/masking/partial-masks.js';
import type { IngestEntry } from '../../src/pipeline/types.js';
import { compileValuePatterns, type PatternConfig } from '../../src/masking/value-patterns.js';
import { testConfig } from '../support/config.js';

const MASKING: MaskingConfig = testConfig().masking;
const BUILT_INS: PatternConfig = MASKING.patterns;
const maskText = compileValuePatterns(BUILT_INS, '****');

function policy(override?: Partial<MaskingOverrideConfig>, masking: MaskingConfig = MASKING): MaskingPolicy {
  const full = override === undefined ? undefined : { extra_keys: [], exempt_keys: [], partial_rules: {}, ...override };
  return compileMaskingPolicy(masking, full, compileValuePatterns(masking.patterns, masking.replacement));
}

function entry(metadata?: Record<string, unknown>, message = 'hello'): IngestEntry {
  const e: IngestEntry = { timestamp: '2025-09-24T12:00:00Z', level: 'INFO', message, service: 'api', env: 'prod' };
  if (metadata !== undefined) e.metadata = metadata;
  return e;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** The reference Luhn check, digit by digit from the right. */
function luhnReference(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** `prefix` completed with a Luhn check digit. */
function withCheckDigit(prefix: string): string {
  for (let d = 0; d <= 9; d++) if (luhnReference(prefix + d)) return prefix + d;
  throw new Error('unreachable');
}

t.test('LuhnPrefix agrees with the reference check on every prefix (property)', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 40 }), (digits) => {
      const luhn = new LuhnPrefix();
      for (let n = 1; n <= digits.length; n++) {
        luhn.push(digits[n - 1]!);
        if (luhn.valid !== luhnReference(digits.slice(0, n).join(''))) throw new Error(`${digits.join('')} prefix ${n}`);
      }
    }),
    { numRuns: 500 },
  );
  const luhn = new LuhnPrefix();
  t.equal(luhn.valid, false, 'no digits is not a number');
  for (const d of '4111111111111111') luhn.push(Number(d));
  t.equal(luhn.valid, true);
  t.equal(luhn.count, 16);
  luhn.reset();
  for (const d of '4111111111111112') luhn.push(Number(d));
  t.equal(luhn.valid, false);
});

t.test('masks Luhn-valid card numbers, keeping the last four digits', async (t) => {
  t.equal(maskText('card 4111111111111111 ok'), 'card ****1111 ok');
  t.equal(maskText('card 4111 1111 1111 1111.'), 'card ****1111.');
  t.equal(maskText('card 4111-1111-1111-1111'), 'card ****1111');
  t.equal(maskText('amex 3782 822463 10005'), 'amex ****0005', '15 digits, 4-6-5 groups');
  t.equal(maskText('4222222222222'), '****2222', '13 digits');
  const nineteen = withCheckDigit('622126000000000000');
  t.equal(maskText(`x${' '}${nineteen}`), `x ****${nineteen.slice(-4)}`, '19 digits');
  t.equal(maskText('a 4111111111111111 b 5555-5555-5555-4444 c'), 'a ****1111 b ****4444 c', 'two cards');
  t.equal(maskText('4111 1111 1111 1111 5555 5555 5555 4444'), '****1111 ****4444', 'two cards in one run of groups, each masked');
  t.equal(maskText('1 1 1 4111 1111 1111 1111 1'), '1 1 1 ****1111 1', 'no card starts with 1: neighbours stay');
  t.equal(maskText('ref 12-4111111111111111'), 'ref 12-****1111', 'a card after a short group');
  t.equal(maskText('ids 7 4111 1111 1111 1111 9'), 'ids 7 ****1111 9', 'a card between short groups');
  t.equal(maskText('[4111111111111111]'), '[****1111]');
});

t.test('leaves numbers that are not cards', async (t) => {
  for (const text of [
    'at 1763830000008 ms',
    '1763830000008',
    'order 1234567890123',
    '4111111111111112',
    '411111111111',
    '41111111111111111111',
    '4111111111111111123',
    '4111  1111  1111  1111',
    '4111 - 1111 - 1111 - 1111',
    'ts 2025-09-24 12:00:00',
    'phone +1 555-123-4567',
    '',
  ]) {
    t.equal(maskText(text), text, JSON.stringify(text));
  }
  t.equal(maskText('9' + '4111111111111111'), '94111111111111111', 'a card inside a longer number is not a card');
});

t.test('masks bearer tokens, keeping the word Bearer', async (t) => {
  t.equal(maskText('Authorization: Bearer sk_live_51H8abcdefghijklmnop'), 'Authorization: Bearer ****');
  t.equal(maskText('bearer abc.def-ghi~jkl+mno/pqr== trailing'), 'bearer **** trailing');
  t.equal(maskText('BEARER\tx'), 'BEARER\t****');
  t.equal(maskText('"Bearer  tok", next'), '"Bearer  ****", next');
  t.equal(maskText('Bearers are people'), 'Bearers are people', 'the word alone, no token');
  t.equal(maskText('xBearer tok'), 'xBearer tok', 'part of another word');
  t.equal(maskText('Bearer'), 'Bearer');
});

t.test('masks JSON Web Tokens', async (t) => {
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  t.equal(maskText(`token=${jwt}; path=/`), 'token=****; path=/');
  t.equal(maskText(`"${jwt}"`), '"****"');
  t.equal(maskText('eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.'), '****', 'unsigned JWT');
  t.equal(maskText('xeyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.sig'), 'xeyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.sig', 'inside another token');
  t.equal(maskText('eyJhbGciOiJub25lIn0 only'), 'eyJhbGciOiJub25lIn0 only', 'a header alone');
});

t.test('applies custom patterns after the built-ins, compiled with the g flag', async (t) => {
  const masker = compileValuePatterns(
    {
      ...BUILT_INS,
      custom: [
        { name: 'ssn', pattern: String.raw`\b\d{3}-\d{2}-\d{4}\b`, flags: '', replacement: '***-**-****' },
        { name: 'session', pattern: 'SESSION=(\\w+)', flags: 'i', replacement: 'SESSION=[$1 hidden]'.replace('$1 ', '') },
        { name: 'iban', pattern: 'DE\\d{2}(?<rest>\\d{18})', flags: 'g', replacement: 'DE**$<rest>'.replace('$<rest>', '…') },
      ],
    },
    '****',
  );
  t.equal(masker('ssn 123-45-6789 and 987-65-4321'), 'ssn ***-**-**** and ***-**-****');
  t.equal(masker('session=abc Session=def'), 'SESSION=[hidden] SESSION=[hidden]');
  t.equal(masker('iban DE89370400440532013000'), 'iban DE**…');
  t.equal(masker('card 4111111111111111'), 'card ****1111', 'built-ins still apply');
  const groups = compileValuePatterns({ ...BUILT_INS, custom: [{ name: 'user', pattern: 'user=(\\w)\\w*', flags: 'g', replacement: 'user=$1***' }] }, '****');
  t.equal(groups('user=alice user=bob'), 'user=a*** user=b***', '$1 in a replacement');
});

t.test('refuses custom patterns that cannot work, naming the key', async (t) => {
  const refusal = (pattern: string, flags = 'g'): string => {
    try {
      compileValuePatterns({ ...BUILT_INS, custom: [{ name: 'p1', pattern, flags, replacement: '*' }] }, '****');
    } catch (err) {
      if (isLogstackError(err, 'CONFIG_INVALID')) return err.message;
      throw err;
    }
    throw new Error(`${pattern} was accepted`);
  };
  t.match(refusal('(unclosed'), /custom\[0\] \(p1\) is not a valid regular expression/);
  t.match(refusal('a*'), /custom\[0\] \(p1\) matches the empty string/);
  t.match(refusal('a', 'gg'), /not a valid regular expression/);
});

t.test('built-ins can be switched off one by one', async (t) => {
  const text = 'c 4111111111111111 b Bearer tok j eyJa.eyJb.c';
  t.equal(compileValuePatterns({ ...BUILT_INS, card_numbers: false }, '****')(text), 'c 4111111111111111 b Bearer **** j ****');
  t.equal(compileValuePatterns({ ...BUILT_INS, bearer_tokens: false }, '****')(text), 'c ****1111 b Bearer tok j ****');
  t.equal(compileValuePatterns({ ...BUILT_INS, jwts: false }, '****')(text), 'c ****1111 b Bearer **** j eyJa.eyJb.c');
  t.equal(compileValuePatterns({ card_numbers: false, bearer_tokens: false, jwts: false, custom: [] }, '****')(text), text);
  t.equal(compileValuePatterns(BUILT_INS, '[redacted]')('Bearer x 4111111111111111'), 'Bearer [redacted] [redacted]1111', 'the configured replacement');
});

t.test('value patterns finish on 100 kB hostile inputs', async (t) => {
  const hostile = {
    digits: '1'.repeat(100_000),
    spacedDigits: '1 '.repeat(50_000),
    dashedDigits: '12-'.repeat(33_000),
    cards: '4111 1111 1111 1111 '.repeat(5_000),
    almostJwt: 'eyJ'.repeat(33_000),
    jwtNoSecondDot: `eyJa.${'b'.repeat(100_000)}`,
    dots: 'eyJa.'.repeat(20_000),
    bearers: 'Bearer '.repeat(14_000),
    bearerSpaces: `Bearer${' '.repeat(100_000)}`,
    mixed: 'Bearer 4111 eyJ 1-'.repeat(5_000),
  };
  for (const [name, text] of Object.entries(hostile)) {
    const out = maskText(text);
    t.type(out, 'string', name);
  }
  t.equal(maskText(hostile.digits), hostile.digits, 'one long number is not a card');
  t.equal(maskText(hostile.cards), '****1111 '.repeat(5_000), 'a long run of cards: every card masked');
  const hidden = `${hostile.spacedDigits}4111 1111 1111 1111 ${hostile.spacedDigits}`;
  t.notMatch(maskText(hidden), '4111 1111 1111 1111', 'a card inside a long run of groups is found');
});

t.test('masks 1 MB strings in message and metadata', async (t) => {
  const big = `${'lorem ipsum '.repeat(87_000)}4111111111111111`;
  const masked = maskEntry(entry({ note: big, password: big }, big), policy());
  t.ok(masked.message.endsWith('****1111'));
  t.equal(masked.message.length, big.length - 8);
  t.equal(masked.metadata?.note, masked.message);
  t.equal(masked.metadata?.password, '****');
});

t.test('keep_prefix keeps N code points then the replacement', async (t) => {
  t.equal(keepPrefix('Bearer sk_live_abc', 5, '****'), 'Beare****');
  t.equal(keepPrefix('😀😁😂🤣😃', 2, '****'), '😀😁****', 'surrogate pairs are one character');
  t.equal(keepPrefix('日本語のテキスト', 3, '#'), '日本語#');
  t.equal(keepPrefix('abcde', 5, '****'), '****', 'a value no longer than N is replaced whole');
  t.equal(keepPrefix('abc', 5, '****'), '****');
  t.equal(keepPrefix('😀😁', 2, '****'), '****');
  t.equal(keepPrefix('', 3, '****'), '****');
  t.equal(keepPrefix('abcdef', 5, '****'), 'abcde****');
});

t.test('mask_email keeps the first and last character of the local part and the domain', async (t) => {
  t.equal(maskEmail('jane.doe@example.com', '****'), 'j******e@example.com');
  t.equal(maskEmail('abc@x.io', '****'), 'a*c@x.io');
  t.equal(maskEmail('ab@x.io', '****'), '**@x.io', 'two characters: all stars');
  t.equal(maskEmail('a@x.io', '****'), '*@x.io', 'one character: all stars');
  t.equal(maskEmail('jürgen.müller@beispiel.de', '****'), 'j***********r@beispiel.de');
  t.equal(maskEmail('😀abc😁@x.io', '****'), '😀***😁@x.io', 'code points, not UTF-16 units');
  t.equal(maskEmail('user+tag@sub.example.com', '****'), 'u******g@sub.example.com');
  for (const notEmail of ['', 'jane.doe', '@example.com', 'jane@', 'a@b@c.com', 'jane doe@example.com', 'Jane <jane@example.com>', 'jane@exa mple.com']) {
    t.equal(maskEmail(notEmail, '****'), '****', JSON.stringify(notEmail));
  }
});

t.test('masks baseline keys at any depth, in arrays, in any case', async (t) => {
  const input = deepFreeze({
    password: 'hunter2',
    Token: 'abc',
    nested: { deeper: { API_KEY: 'ak_1', Secret: { any: 'shape' }, card_number: 4111111111111111 } },
    list: [{ secret: 'x' }, [{ PassWord: ['a', 'b'] }], 'plain'],
    fine: 'value',
    count: 3,
    flag: false,
    nothing: null,
  });
  const out = maskEntry(entry(input), policy()).metadata;
  t.same(out, {
    password: '****',
    Token: '****',
    nested: { deeper: { API_KEY: '****', Secret: '****', card_number: '****' } },
    list: [{ secret: '****' }, [{ PassWord: '****' }], 'plain'],
    fine: 'value',
    count: 3,
    flag: false,
    nothing: null,
  });
});

t.test('applies the default partial rules to authorization and email', async (t) => {
  const out = maskEntry(entry({ http: { headers: { Authorization: 'Bearer sk_live_51H8abcdefghijklmnop' } }, user: { EMAIL: 'jane.doe0@example.com' } }), policy()).metadata;
  t.same(out, { http: { headers: { Authorization: 'Beare****' } }, user: { EMAIL: 'j*******0@example.com' } });
  const odd = maskEntry(entry({ authorization: 12345678, email: { address: 'jane@example.com' }, Email: 'not an email' }), policy()).metadata;
  t.same(odd, { authorization: '****', email: '****', Email: '****' }, 'values a partial rule cannot read are masked whole');
});

t.test('runs value patterns over the part a partial rule keeps', async (t) => {
  const masking = { ...MASKING, partial_rules: { note: { keep_prefix: 20 } } };
  t.same(maskEntry(entry({ note: '4111111111111111 and more' }), policy(undefined, masking)).metadata, { note: '****1111 and****' });
});

t.test('a partial rule makes its key masked even when no key list names it', async (t) => {
  const masking = { ...MASKING, baseline_keys: [], partial_rules: { phone: { keep_prefix: 3 }, Other: {} } };
  t.same(maskEntry(entry({ PHONE: '+441632960961', other: 'x', free: 'y' }), policy(undefined, masking)).metadata, {
    PHONE: '+44****',
    other: '****',
    free: 'y',
  });
  t.same(maskEntry(entry({ k: 'abcdef' }), policy(undefined, { ...masking, partial_rules: { k: { keep_prefix: 2, mask_email: true } } })).metadata, { k: '****' }, 'mask_email wins over keep_prefix');
});

t.test('per-token overrides add, exempt and refine keys', async (t) => {
  const metadata = { password: 'p', email: 'jane.doe@example.com', ssn: '123-45-6789', phone: '+441632960961', note: 'n' };
  t.same(maskEntry(entry(metadata), policy({ extra_keys: ['SSN'] })).metadata, { ...metadata, password: '****', email: 'j******e@example.com', ssn: '****' });
  t.same(maskEntry(entry(metadata), policy({ exempt_keys: ['Password', 'email'] })).metadata, metadata, 'exempt from the baseline and the global partial rules');
  t.same(maskEntry(entry(metadata), policy({ partial_rules: { phone: { keep_prefix: 3 }, email: { keep_prefix: 2 } } })).metadata, {
    ...metadata,
    password: '****',
    email: 'ja****',
    phone: '+44****',
  });
  t.equal(maskEntry(entry(metadata), policy({ exempt_keys: ['note'], extra_keys: ['note'] })).metadata?.note, '****', 'what the token asks to mask stays masked');
  t.same(maskEntry(entry(metadata), policy()).metadata, { ...metadata, password: '****', email: 'j******e@example.com' }, 'other tokens keep the baseline');
});

t.test('runs value patterns over message, service, env and every unmasked string', async (t) => {
  const input = deepFreeze(
    entry({ a: 'Bearer abc', list: ['4111-1111-1111-1111', { deep: 'x eyJa.eyJb.sig' }], n: 4111111111111111 }, 'paid with 4111 1111 1111 1111'),
  );
  const out = maskEntry({ ...input, env: '4111-1111-1111-1111' }, policy());
  t.equal(out.message, 'paid with ****1111');
  t.equal(out.env, '****1111');
  t.equal(out.service, 'api');
  t.same(out.metadata, { a: 'Bearer ****', list: ['****1111', { deep: 'x ****' }], n: '****1111' });
});

t.test('masks card numbers sent as JSON numbers, leaving other numbers alone', async (t) => {
  const out = maskEntry(entry({ pan: 4111111111111111, neg: -4111111111111111, order: 1234567890123, ms: 1758715200000, big: 1e30, float: 4111111111111111.5 }), policy());
  t.same(out.metadata, { pan: '****1111', neg: '-****1111', order: 1234567890123, ms: 1758715200000, big: 1e30, float: 4111111111111111.5 });
});

t.test('never masks keys, only values', async (t) => {
  const out = maskEntry(entry({ 'Bearer abc': 1, '4111111111111111': 'x', password: { 'Bearer y': 2 } }), policy()).metadata;
  t.same(Object.keys(out ?? {}), ['Bearer abc', '4111111111111111', 'password']);
  t.same(out, { 'Bearer abc': 1, '4111111111111111': 'x', password: '****' });
});

t.test('returns new objects and never changes its input', async (t) => {
  const input = deepFreeze(entry({ password: 'p', nested: { list: [{ token: 't' }, 'Bearer x'] }, keep: { same: 1 } }, 'Bearer y'));
  const before = JSON.stringify(input);
  const out = maskEntry(input, policy());
  t.equal(JSON.stringify(input), before);
  t.not(out, input);
  t.not(out.metadata, input.metadata);
  t.not(out.metadata?.keep, input.metadata?.keep, 'even unchanged objects are copies');
  t.same(out.metadata?.keep, { same: 1 });
});

t.test('a __proto__ key stays plain data in the masked copy', async (t) => {
  const input = JSON.parse('{"__proto__": {"admin": true, "password": "p"}, "constructor": {"prototype": {"admin": true}}}') as Record<string, unknown>;
  const out = maskEntry(entry(input), policy()).metadata!;
  t.same(Object.keys(out), ['__proto__', 'constructor']);
  t.equal(Object.getPrototypeOf(out), Object.prototype);
  t.same(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { admin: true, password: '****' });
  t.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched');
  t.equal(JSON.stringify(out), '{"__proto__":{"admin":true,"password":"****"},"constructor":{"prototype":{"admin":true}}}');
});

t.test('handles unicode and empty strings', async (t) => {
  const out = maskEntry(entry({ name: 'Zoë 🌍', empty: '', password: '', email: 'ü@例え.jp', 'ключ': 'значение' }, 'héllo 🌍'), policy());
  t.equal(out.message, 'héllo 🌍');
  t.same(out.metadata, { name: 'Zoë 🌍', empty: '', password: '****', email: '*@例え.jp', 'ключ': 'значение' });
});
