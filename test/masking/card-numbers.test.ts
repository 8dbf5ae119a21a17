import fc from 'fast-check';
import t from 'tap';
import { CARD_RUN, isCardStart, maskCardNumberValue, maskCardRun } from '../../src/masking/card-numbers.js';
import { LuhnPrefix } from '../../src/masking/luhn.js';
import { DIGIT_CLASS, digitValue } from '../../src/masking/unicode-digits.js';

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

const run = new RegExp(CARD_RUN, 'g');
const LETTER = /[A-Za-z]/;
/** Every card run of `text` masked, as the value rules do it. */
function mask(text: string): string {
  return text.replace(run, (found, at: number) => maskCardRun(found, '****', LETTER.test(text[at - 1] ?? ''), LETTER.test(text[at + found.length] ?? '')));
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

t.test('masks card numbers of every network, keeping the last four digits', async (t) => {
  t.equal(mask('card 4111111111111111 ok'), 'card ****1111 ok', 'Visa');
  t.equal(mask('card 4111 1111 1111 1111.'), 'card ****1111.');
  t.equal(mask('card 4111-1111-1111-1111'), 'card ****1111');
  t.equal(mask('5555 5555 5555 4444'), '****4444', 'Mastercard');
  t.equal(mask('2223 0031 2200 3222'), '****3222', 'Mastercard 2-series');
  t.equal(mask('amex 3782 822463 10005'), 'amex ****0005', 'Amex, 4-6-5');
  t.equal(mask('diners 3056 930902 5904'), 'diners ****5904', 'Diners, 4-6-4');
  t.equal(mask('6011111111111117'), '****1117', 'Discover');
  t.equal(mask('3530111333300000'), '****0000', 'JCB');
  t.equal(mask('6200000000000005'), '****0005', 'UnionPay');
  t.equal(mask('4222222222222'), '****2222', 'Visa, 13 digits');
  const nineteen = withCheckDigit('622126000000000000');
  t.equal(mask(`x ${nineteen}`), `x ****${nineteen.slice(-4)}`, '19 digits');
  t.equal(mask(`x ${nineteen.slice(0, 4)} ${nineteen.slice(4, 8)} ${nineteen.slice(8, 12)} ${nineteen.slice(12, 16)} ${nineteen.slice(16)}`), `x ****${nineteen.slice(-4)}`, '19 digits, 4-4-4-4-3');
  t.equal(mask('a 4111111111111111 b 5555-5555-5555-4444 c'), 'a ****1111 b ****4444 c', 'two cards');
  t.equal(mask('4111 1111 1111 1111 5555 5555 5555 4444'), '****1111 ****4444', 'two cards in one run of groups, each masked');
  t.equal(mask('1 1 1 4111 1111 1111 1111 1'), '1 1 1 ****1111 1', 'no card starts with 1: neighbours stay');
  t.equal(mask('ref 12-4111111111111111'), 'ref 12-****1111', 'a card after a short group');
  t.equal(mask('ids 7 4111 1111 1111 1111 9'), 'ids 7 ****1111 9', 'a card between short groups');
  t.equal(mask('[4111111111111111]'), '[****1111]');
  t.equal(mask('order A1 4111 1111 1111 1111'), 'order A1 ****1111', 'after a number glued to a letter');
  t.equal(mask('4111 1111 1111 1111 1227'), '****1111 1227', 'followed by an expiry date');
});

t.test('masks cards written with the separators people and programs use', async (t) => {
  for (const [what, sep] of [
    ['double spaces', '  '],
    ['dots', '.'],
    ['slashes', '/'],
    ['tabs', '\t'],
    ['NBSP', '\u00a0'],
    ['narrow NBSP', '\u202f'],
    ['ideographic spaces', '\u3000'],
    ['underscores', '_'],
    ['spaced dashes', ' - '],
    ['en dashes', '\u2013'],
    ['zero-width spaces', '\u200b'],
    ['soft hyphens', '\u00ad'],
    ['mixed', ' -'],
  ] as const) {
    t.equal(mask(`pay ${['4111', '1111', '1111', '1111'].join(sep)} now`), 'pay ****1111 now', what);
  }
});

t.test('masks cards in digits of any script', async (t) => {
  t.equal(mask('card ４１１１１１１１１１１１１１１１'), 'card ****１１１１', 'full-width');
  t.equal(mask('card ４１１１ １１１１ １１１１ １１１１'), 'card ****１１１１', 'full-width, grouped');
  t.equal(mask('٤١١١١١١١١١١١١١١١'), '****١١١١', 'Arabic-Indic');
  t.equal(mask('४१११११११११११११११'), '****११११', 'Devanagari');
  t.equal(mask('4111１１１１1111１１１１'), '****１１１１', 'mixed scripts');
  t.equal(digitValue('٧'.charCodeAt(0)), 7);
  t.equal(digitValue('a'.charCodeAt(0)), -1);
  t.ok(new RegExp(`^${DIGIT_CLASS}+$`).test('0123456789０１２３٠١٢۰۱۲०१२০১২'));
});

t.test('leaves numbers that are not cards', async (t) => {
  for (const text of [
    'upstream answered 200-1796231684448',
    'upstream answered 200 1796231684448',
    'at 1763830000008 ms',
    '1763830000008',
    'order 1234567890123',
    '4111111111111112',
    '411111111111',
    '41111111111111111111',
    '4111111111111111123',
    'imei 356938035643809',
    'imei 35-693803-564380-9',
    'ts 2025-09-24 12:00:00',
    'phone +1 555-123-4567',
    'phone +86 138 0013 8000',
    'sha256 a94111111111111111bc2d',
    'id 4111111111111111abc',
    '41 11 11 11 11 11 11 11',
    '4111    1111    1111    1111',
    'ns 1758715200123456789',
    'usps 9400 1000 0000 0000 0000 00',
    '0.4111 0.1111 0.1111 0.1111',
    '',
  ]) {
    t.equal(mask(text), text, JSON.stringify(text));
  }
  t.equal(mask(`9${'4111111111111111'}`), '94111111111111111', 'a card inside a longer number is not a card');
});

t.test('card networks by first digits and length', async (t) => {
  t.ok(isCardStart(3, 4, 15) && isCardStart(3, 7, 15), 'Amex');
  t.notOk(isCardStart(3, 5, 15), 'an IMEI is 15 digits from 35');
  t.ok(isCardStart(3, 5, 16), 'JCB');
  t.ok(isCardStart(3, 6, 14), 'Diners');
  t.notOk(isCardStart(4, 1, 15));
  t.ok(isCardStart(2, 2, 16));
  t.notOk(isCardStart(2, 0, 13));
  t.notOk(isCardStart(1, 7, 16), 'epoch times start with 1');
  t.notOk(isCardStart(9, 4, 16));
});

t.test('JSON numbers: exact ones are checked, rounded ones that start like a card are masked whole', async (t) => {
  const maskRun = (digits: string) => mask(digits);
  t.equal(maskCardNumberValue(4111111111111111, '****', maskRun), '****1111');
  t.equal(maskCardNumberValue(-4111111111111111, '****', maskRun), '-****1111');
  t.equal(maskCardNumberValue(1758715200000, '****', maskRun), 1758715200000, 'epoch ms');
  t.equal(maskCardNumberValue(1234567890123, '****', maskRun), 1234567890123);
  // JSON.parse('6177503476599092006') is 6177503476599092000: its check digit is gone.
  t.equal(maskCardNumberValue(JSON.parse('6177503476599092006') as number, '****', maskRun), '****', 'a 19-digit card, rounded');
  t.equal(maskCardNumberValue(JSON.parse('-4000056655665556123') as number, '****', maskRun), '-****');
  t.equal(maskCardNumberValue(1758715200123456800, '****', maskRun), 1758715200123456800, 'epoch ns start with 1');
  t.equal(maskCardNumberValue(9007199254740993, '****', maskRun), 9007199254740993, 'no card starts with 9');
  t.equal(maskCardNumberValue(1e30, '****', maskRun), 1e30);
  t.equal(maskCardNumberValue(4111111111111111.5, '****', maskRun), 4111111111111111.5);
});

t.test('a card run is linear on 100 kB hostile inputs', async (t) => {
  const hostile = ['1'.repeat(100_000), '1 '.repeat(50_000), '12-'.repeat(33_000), `${'4'.repeat(99_999)}a`, '1\u200b'.repeat(50_000), '4111 '.repeat(20_000)];
  for (const text of hostile) t.type(mask(text), 'string');
  t.equal(mask('4111 1111 1111 1111 '.repeat(5_000)), '****1111 '.repeat(5_000), 'a long run of cards: every card masked');
  const hidden = `${'1 '.repeat(50_000)}4111 1111 1111 1111 ${'1 '.repeat(50_000)}`;
  t.notMatch(mask(hidden), '4111 1111 1111 1111', 'a card inside a long run of groups is found');
});
