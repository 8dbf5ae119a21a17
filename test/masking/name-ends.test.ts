import fc from 'fast-check';
import t from 'tap';
import { compileMaskingPolicy } from '../../src/masking/policy.js';
import { LIBRARY_ENDINGS, libraryKeyRule, nameWords, phraseOf, readName, trailingPhrases } from '../../src/masking/key-names.js';
import { NameEnds } from '../../src/masking/name-ends.js';
import { testConfig } from '../support/config.js';

const { masking } = testConfig();

t.test('a name may be judged when its words, joined, end in an ending', async (t) => {
  const ends = new NameEnds(['password', 'apikey']);
  for (const name of ['password', 'db_password', 'dbPassword', 'DB-PASSWORD', 'password_2', 'password2', 'x-api-key', 'stripeApiKey', 'p\u0430ssword', 'λpassword']) {
    t.ok(ends.mayEnd(readName(name)), name);
  }
  for (const name of ['user', 'passwords', 'password_policy', 'αβ1kγ', 'λλ1λ', 'passwordλ', '12:00:07', '', '---']) {
    t.notOk(ends.mayEnd(readName(name)), name);
  }
});

t.test('a letter that lower-cases to ASCII, or an ending past ASCII, leaves every name to the rules', async (t) => {
  t.ok(new NameEnds(['password']).mayEnd('\u0130'), 'İ lower-cases to i and a combining dot');
  t.ok(new NameEnds(['пароль']).mayEnd(readName('αβ1kγ')), 'an operator phrase in another script');
});

/** Pieces of names: the words of the rules, their neighbours, other scripts, numbers, separators. */
const piece = fc.oneof(
  fc.constantFrom(...LIBRARY_ENDINGS, ...masking.baseline_keys, 'db', 'api', 'session', 'credit', 'card', 'security', 'client', 'user', 'policy', 'count'),
  fc.constantFrom('_', '-', '.', ' ', '', '2', '007', 'αβ', 'γ', 'λ', 'Σ', 'р', 'а', '\u200b', 'ＫＥＹ', 'x'),
  fc.string({ maxLength: 4 }),
);
const name = fc
  .array(fc.tuple(piece, fc.constantFrom('lower', 'upper', 'capitalised')), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.map(([p, casing]) => (casing === 'upper' ? p.toUpperCase() : casing === 'capitalised' ? p.charAt(0).toUpperCase() + p.slice(1) : p)).join(''));

t.test('every name a key rule judges ends in an ending of the policy: the check passes over none of them', async (t) => {
  const phrases = new Set([...masking.baseline_keys, ...Object.keys(masking.partial_rules)].map(phraseOf));
  const ends = new NameEnds([...phrases, ...LIBRARY_ENDINGS]);
  const judged = (words: string[]): boolean => libraryKeyRule(words) !== undefined || trailingPhrases(words).some((phrase) => phrases.has(phrase));
  let seen = 0;
  fc.assert(
    fc.property(name, (candidate) => {
      if (!judged(nameWords(candidate)) && !judged(nameWords(candidate, false))) return true;
      seen++;
      return ends.mayEnd(readName(candidate));
    }),
    { numRuns: 20_000 },
  );
  t.ok(seen > 1000, `${seen} judged names checked`);
});

t.test('names the check passes over are not secrets; those it keeps are masked as before', async (t) => {
  const policy = compileMaskingPolicy(masking);
  t.equal(policy.maskText('αβ1kγ=v user=bob password=hunter2 αβ1kγ_password=x dbPаssword=y'), 'αβ1kγ=v user=bob password=**** αβ1kγ_password=**** dbPаssword=****');
  const own = compileMaskingPolicy(masking, { extra_keys: ['пароль'], exempt_keys: [], partial_rules: {}, disabled_rules: [], enabled_rules: [] });
  t.equal(own.maskText('пароль=x αβ1kγ=v'), 'пароль=**** αβ1kγ=v', 'an operator key in another script');
});
