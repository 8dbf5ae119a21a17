import fc from 'fast-check';
import t from 'tap';
import { hasHumps, libraryKeyRule, mayBeName, nameWords, phraseOf, readName, readWords, trailingPhrases } from '../../src/masking/key-names.js';
import { LOOK_ALIKES, readableName } from '../../src/masking/look-alikes.js';

t.test('names split into words at separators, camelCase humps and digits', async (t) => {
  t.same(nameWords('db_password'), ['db', 'password']);
  t.same(nameWords('clientSecret'), ['client', 'secret']);
  t.same(nameWords('X-Api-Key'), ['x', 'api', 'key']);
  t.same(nameWords('APIKey'), ['api', 'key']);
  t.same(nameWords('XMLHttpRequest'), ['xml', 'http', 'request']);
  t.same(nameWords('user.password'), ['user', 'password']);
  t.same(nameWords('user password'), ['user', 'password']);
  t.same(nameWords('oauth2_token'), ['oauth', '2', 'token']);
  t.same(nameWords('password2'), ['password'], 'trailing numbers never matter');
  t.same(nameWords('password_2'), ['password']);
  t.same(nameWords('  password  '), ['password'], 'spaces around');
  t.same(nameWords('---'), []);
  t.same(nameWords(''), []);
});

t.test('names are read as a person reads them: case, NFKC forms, invisible characters, look-alikes', async (t) => {
  t.same(nameWords('PASSWORD'), ['password']);
  t.same(nameWords('ｐａｓｓｗｏｒｄ'), ['password'], 'full-width');
  t.same(nameWords('ＡＰＩ＿ＫＥＹ'), ['api', 'key']);
  t.same(nameWords('pass\u200bword'), ['password'], 'zero-width space');
  t.same(nameWords('pass\u00adword'), ['password'], 'soft hyphen');
  t.same(nameWords('pass\u2060word\ufeff'), ['password'], 'word joiner and BOM');
  t.same(nameWords('\u202epassword'), ['password'], 'bidi override');
  t.same(nameWords('pass\u3164word'), ['password'], 'Hangul filler');
  t.same(nameWords('p\u0430ssword'), ['password'], 'Cyrillic а');
  t.same(nameWords('\u0391PI_KEY'), ['api', 'key'], 'Greek Α');
  t.same(nameWords('pásswörd'), ['password'], 'accents');
  t.same(nameWords('𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝'), ['password'], 'mathematical bold');
  t.same(nameWords('ᴘᴀꜱꜱᴡᴏʀᴅ'), ['password'], 'small capitals');
  t.same(nameWords('pass\u00a0word'), ['pass', 'word'], 'NBSP separates');
  // Digits of other scripts are digits: a trailing number in any of them is dropped.
  t.same(nameWords('password\u0663'), ['password'], 'Arabic-Indic ٣');
  t.same(nameWords('password_\u06f5'), ['password'], 'Extended Arabic-Indic ۵');
  t.same(nameWords('api_key\u0968'), ['api', 'key'], 'Devanagari २');
  t.same(nameWords('pass\u0663word'), ['pass', '3', 'word'], 'a digit inside separates words, as 3 does');
  for (const [from, to] of LOOK_ALIKES) t.match(to, /^[A-Za-z]$/, `${from} reads as a Latin letter`);
  t.equal(readableName('Straße'), 'Straße', 'other letters stay');
});

t.test('operator phrases match by trailing words, also written together', async (t) => {
  t.equal(phraseOf('api_key'), 'apikey');
  t.equal(phraseOf('apiKey'), 'apikey');
  t.equal(phraseOf('API-KEY'), 'apikey');
  t.same(trailingPhrases(['x', 'api', 'key']), ['xapikey', 'apikey', 'key'], 'longest first');
  t.same(trailingPhrases(['apikey']), ['apikey']);
  t.same(trailingPhrases([]), []);
  t.equal(trailingPhrases('a b c d e f g h'.split(' ')).length, 6, 'at most six words');
});

t.test("the library's key rules know the words that name secrets", async (t) => {
  const rule = (name: string) => libraryKeyRule(nameWords(name));
  const cases: Array<[string, string]> = [
    ['password', 'key-password'], ['passwd', 'key-password'], ['pwd', 'key-password'], ['pass_word', 'key-password'], ['db_password', 'key-password'],
    ['PGPASSWORD', 'key-password'], ['mysqlpwd', 'key-password'], ['DB_PASS', 'key-password'], ['password_hash', 'key-password'], ['passwordConfirmation', 'key-password'],
    ['new_password', 'key-password'], ['passphrase', 'key-password'], ['otp', 'key-password'], ['pass', 'key-password'], ['storepass', 'key-password'], ['KEYSTORE_PASS', 'key-password'],
    ['auth', 'key-authorization'], ['_auth', 'key-authorization'], ['SECRET_KEY_BASE', 'key-api-key'],
    ['secret', 'key-secret'], ['client_secret', 'key-secret'], ['clientSecret', 'key-secret'], ['jwtsecret', 'key-secret'], ['secret_value', 'key-secret'],
    ['token', 'key-token'], ['access_token', 'key-token'], ['refresh_token', 'key-token'], ['id_token', 'key-token'], ['session_token', 'key-token'], ['X-Auth-Token', 'key-token'], ['csrf', 'key-token'],
    ['api_key', 'key-api-key'], ['apikey', 'key-api-key'], ['api-key', 'key-api-key'], ['x-api-key', 'key-api-key'], ['xapikey', 'key-api-key'], ['private_key', 'key-api-key'],
    ['secret_key', 'key-api-key'], ['aws_secret_access_key', 'key-api-key'], ['AccountKey', 'key-api-key'], ['Ocp-Apim-Subscription-Key', 'key-api-key'],
    ['authorization', 'key-authorization'], ['Proxy-Authorization', 'key-authorization'], ['authorisation', 'key-authorization'],
    ['cookie', 'key-cookie'], ['set-cookie', 'key-cookie'], ['Set-Cookie', 'key-cookie'], ['setcookie', 'key-cookie'], ['cookies', 'key-cookie'],
    ['session', 'key-session'], ['session_id', 'key-session'], ['sessionId', 'key-session'], ['JSESSIONID', 'key-session'], ['PHPSESSID', 'key-session'], ['connect.sid', 'key-session'],
    ['credentials', 'key-credentials'], ['creds', 'key-credentials'], ['awsCredentials', 'key-credentials'],
    ['signature', 'key-signature'], ['sig', 'key-signature'], ['X-Amz-Signature', 'key-signature'],
    ['card_number', 'key-card-data'], ['cardNumber', 'key-card-data'], ['cc_number', 'key-card-data'], ['credit_card', 'key-card-data'], ['cvv', 'key-card-data'], ['CVV2', 'key-card-data'], ['security_code', 'key-card-data'],
  ];
  for (const [name, expected] of cases) t.equal(rule(name), expected, name);
});

t.test('names that only mention a secret word are not secrets', async (t) => {
  for (const name of [
    'password_policy', 'password_length', 'password_changed_at', 'password_reset_required', 'token_type', 'token_count', 'max_tokens', 'prompt_tokens',
    'tokens_used', 'expires_in', 'secret_name', 'secret_arn', 'key', 'keys', 'cache_key', 'primary_key', 'public_key', 'key_id', 'kms_key_id',
    'idempotency_key', 'api_key_id', 'session_count', 'session_duration_ms', 'sessions', 'cookie_consent', 'signature_valid', 'signature_algorithm',
    'authorization_status', 'auth_method', 'card_last4', 'card_brand', 'first_pass', 'bypass', 'credential_id', 'user', 'email', 'id', '',
  ]) {
    t.equal(libraryKeyRule(nameWords(name)), undefined, JSON.stringify(name));
  }
});

t.test('text that ends in no word is passed over before it is read', async (t) => {
  for (const name of ['password', 'x-api-key', 'db2_pw', 'pass\u200bword', 'пароль']) t.ok(mayBeName(name), name);
  for (const name of ['12', '2025-09-24T12', '10.0.0.1', '', '-', 'a', 'v2', 'x1']) t.notOk(mayBeName(name), name);
});

t.test('a name read without capitals has no humps: both readings give the same words', async (t) => {
  t.ok(hasHumps(readName('dbPassword')));
  t.notOk(hasHumps(readName('db_password')));
  t.ok(hasHumps(readName('\u0391PI_KEY')), 'a Greek capital read as a Latin one');
  fc.assert(
    fc.property(fc.string({ maxLength: 24, unit: fc.constantFrom('a', 'B', 'z', 'Q', '1', '_', ' ', 'α', 'Α', 'λ', 'Λ', 'ｐ', 'Ｐ', '\u200b', 'ǅ') }), (name) => {
      const read = readName(name);
      return hasHumps(read) || readWords(read).join(' ') === readWords(read, false).join(' ');
    }),
    { numRuns: 5000 },
  );
});
