/**
 * Key names judged by their words, not as whole strings.
 *
 * A name is read as a person reads it (look-alikes.ts: NFKD, invisible characters dropped,
 * look-alike letters read as Latin), split into words at every character that is neither a
 * letter nor a digit (`_ - . / space`, …), at camelCase humps (`clientSecret`, `APIKey`) and
 * between letters and digits (`password2`), and lower-cased. Trailing numbers never matter:
 * `password_2` is a password. A name in no consistent case (`pAsSwOrD`) is also read without
 * its humps, as the same name in one case.
 *
 * Two ways to match:
 * - an operator's phrase (`baseline_keys`, `extra_keys`, `exempt_keys`, partial rule keys) matches
 *   a name whose last words are the phrase's words, also written together: `api_key` matches
 *   `X-Api-Key`, `stripeApiKey` and `apikey`, `email` matches `user_email` but not
 *   `email_verified`;
 * - the library's key rules (rules.ts) know the words that name secrets: the head noun of a
 *   name is its last word (`password_policy` is a policy, `db_password` a password), a few
 *   words after a noun still name the secret (`password_hash`, `token_value`,
 *   `password_confirmation`), and some nouns are recognised glued to a prefix (`dbpassword`,
 *   `setcookie`).
 */
import { readableName } from './look-alikes.js';
import type { RuleId } from './rules.js';

/**
 * Only the end of a very long name is read: matching looks at its last words, and this bounds
 * the work per name whatever a client sends.
 */
const MAX_NAME_CHARS = 128;
/** Longest operator phrase, in words; longer ones match by their last words only. */
const MAX_PHRASE_WORDS = 6;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const CAPITAL = /[A-Z]/;

// An object, not an enum: Node runs the sources by erasing types, and an enum is not erasable.
const CharKind = { Separator: 0, Lower: 1, Upper: 2, Digit: 3 } as const;
type CharKind = (typeof CharKind)[keyof typeof CharKind];

function kindOf(c: number): CharKind {
  if (c >= 97 && c <= 122) return CharKind.Lower;
  if (c >= 65 && c <= 90) return CharKind.Upper;
  if (c >= 48 && c <= 57) return CharKind.Digit;
  // Past readableName, what is not ASCII is a letter or digit of another script.
  return c >= 0x80 ? CharKind.Lower : CharKind.Separator;
}

/**
 * The words of `name`, lower-cased, trailing numbers dropped. With `camelCase` false, humps are
 * not word boundaries: `pAsSwOrD` is one word (and `password`), where camelCase reading makes
 * it five.
 */
export function nameWords(name: string, camelCase = true): string[] {
  return readWords(readName(name), camelCase);
}

/** What of `name` is read, and how a reader sees it: the text readWords splits. */
export function readName(name: string): string {
  const text = name.length > MAX_NAME_CHARS ? name.slice(-MAX_NAME_CHARS) : name;
  return PRINTABLE_ASCII.test(text) ? text : readableName(text);
}

/**
 * Whether the words of a name read (readName) may differ with `camelCase` and without: only a
 * capital letter makes a hump.
 */
export function hasHumps(text: string): boolean {
  return CAPITAL.test(text);
}

/** The words of a name read by readName: nameWords without the reading. */
export function readWords(text: string, camelCase = true): string[] {
  const words: string[] = [];
  let start = -1;
  let previous: CharKind = CharKind.Separator;
  const end = (at: number): void => {
    if (start >= 0) words.push(text.slice(start, at).toLowerCase());
    start = -1;
  };
  for (let i = 0; i < text.length; i++) {
    const kind = kindOf(text.charCodeAt(i));
    if (kind === CharKind.Separator) {
      end(i);
    } else if (start < 0) {
      start = i;
    } else if ((kind === CharKind.Digit) !== (previous === CharKind.Digit) || (camelCase && kind === CharKind.Upper && previous === CharKind.Lower)) {
      end(i);
      start = i;
    } else if (camelCase && kind === CharKind.Lower && previous === CharKind.Upper && i - start > 1) {
      // `APIKey`: the last capital of a run starts the next word.
      end(i - 1);
      start = i - 1;
    }
    previous = kind;
  }
  end(text.length);
  while (words.length > 0 && isNumber(words[words.length - 1]!)) words.pop();
  return words;
}

function isNumber(word: string): boolean {
  const c = word.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/**
 * Whether `name`, found before a separator in text, may name anything: its last letters (digits
 * and separators after them aside) are a word of two letters or more, or it is not plain ASCII.
 * A text's times, numbers and addresses (`12:00:07`, `10.0.0.1:8080`, `2025-09-24T12:…`) end in
 * none, so they are passed over without being split, looked up or cached.
 */
export function mayBeName(name: string): boolean {
  let i = name.length - 1;
  for (; i >= 0; i--) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) return true;
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) break;
  }
  if (i < 1) return false;
  const c = name.charCodeAt(i - 1);
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c >= 0x80;
}

/**
 * The keys an operator phrase may be found under: the last 1, 2, … words of a name, written
 * together, longest first. A phrase is stored the same way (its words joined), so `api_key`,
 * `apiKey` and `apikey` are one phrase.
 */
export function trailingPhrases(words: readonly string[]): string[] {
  const phrases: string[] = [];
  let phrase = '';
  for (let i = words.length - 1; i >= 0 && words.length - i <= MAX_PHRASE_WORDS; i--) {
    phrase = words[i]! + phrase;
    phrases.push(phrase);
  }
  return phrases.reverse();
}

/** How an operator phrase is stored; '' when it has no words. */
export function phraseOf(key: string): string {
  return nameWords(key).slice(-MAX_PHRASE_WORDS).join('');
}

// --- the library's vocabulary -------------------------------------------------------------

/** Words after a secret's noun that still name the secret (`password_hash`, `token_b64`). */
const QUALIFIERS = new Set([
  'hash', 'hashed', 'digest', 'salt', 'value', 'val', 'str', 'string', 'b64', 'base64', 'hex', 'enc', 'encrypted',
  'encoded', 'plain', 'plaintext', 'raw', 'text', 'txt', 'data', 'bytes', 'confirmation', 'confirm', 'again', 'repeat',
  'verify', 'file', 'content', 'contents', 'base',
]);

/** A last word that names a secret by itself. */
const LAST_WORDS: ReadonlyMap<string, RuleId> = new Map([
  ...wordsOf('key-password', 'passphrase passcode passwd pwd otp pgpass storepass keypass keystorepass truststorepass passin passout'),
  ...wordsOf('key-secret', 'secret'),
  ...wordsOf('key-token', 'token csrf xsrf bearer jwt'),
  ...wordsOf('key-api-key', 'apikey accesskey secretkey privatekey signingkey masterkey accountkey licensekey subscriptionkey clientkey authkey encryptionkey'),
  ...wordsOf('key-authorization', 'authorization authorisation auth'),
  ...wordsOf('key-cookie', 'cookie cookies'),
  ...wordsOf('key-session', 'session sessionid sessid jsessionid phpsessid'),
  ...wordsOf('key-credentials', 'credentials credential creds'),
  ...wordsOf('key-signature', 'signature sig'),
  ...wordsOf('key-card-data', 'cardnumber ccnumber ccnum creditcard cvv cvc csc cvn'),
]);

/** Nouns also recognised at the end of a glued word: `dbpassword`, `mysqlpwd`, `setcookie`. */
const GLUED: ReadonlyArray<readonly [string, RuleId]> = [
  ['password', 'key-password'],
  ['passwd', 'key-password'],
  ['pwd', 'key-password'],
  ['secret', 'key-secret'],
  ['token', 'key-token'],
  ['apikey', 'key-api-key'],
  ['cookie', 'key-cookie'],
  ['credentials', 'key-credentials'],
  ['authorization', 'key-authorization'],
];

/** `<word> key` that names a key to something (`api_key`, `private_key`); a bare `key` does not. */
const KEY_KINDS = new Set(
  'api access secret private signing sign encryption encrypt crypt master client auth app application account license licence shared session service admin root storage webhook deploy ssh gpg pgp hmac jwt subscription'.split(' '),
);
/** `<word> pass` that is a password (`db_pass`, `smtp_pass`); `first_pass`, `bypass` are not. */
const PASS_OWNERS = new Set(
  'db database mysql postgres pg redis smtp mail email ftp sftp ssh admin root user login ldap bind proxy basic http wifi vpn app api service account master default sa rabbit rabbitmq amqp key cert keystore truststore store jks p12 pfx ssl tls vault sudo zip archive smb'.split(' '),
);
const CARD_WORDS = new Set(['card', 'cc', 'pan']);

function wordsOf(rule: RuleId, words: string): Array<readonly [string, RuleId]> {
  return words.split(' ').map((word) => [word, rule] as const);
}

/** The last word and the one before it, qualifiers dropped. */
function head(words: readonly string[]): [last: string | undefined, previous: string | undefined] {
  let n = words.length;
  // Two qualifiers at most: `password_hash_hex`; a name made of qualifiers is none of ours.
  for (let dropped = 0; n > 1 && dropped < 2 && QUALIFIERS.has(words[n - 1]!); dropped++) n--;
  return [words[n - 1], words[n - 2]];
}

/** The last words of the library's names of two words (`api key`, `session id`), which alone name nothing. */
export const LIBRARY_TAILS: ReadonlySet<string> = new Set(['key', 'word', 'phrase', 'pass', 'pw', 'id', 'sid', 'number', 'num', 'no', 'card', 'code', 'verification']);

/**
 * Every word a library rule may find at the end of a name (name-ends.ts): the qualifiers, the
 * last words, the last words of two-word names, the nouns recognised glued.
 */
export const LIBRARY_ENDINGS: ReadonlySet<string> = new Set([...QUALIFIERS, ...LAST_WORDS.keys(), ...LIBRARY_TAILS, ...GLUED.map(([noun]) => noun)]);

/**
 * Names that alone also name things that are no secret: `pass` counts passed tests, `auth` and
 * `session` are often switches. Under them a number, a boolean or null stays; text is masked.
 */
const AMBIGUOUS = new Set(['pass', 'auth', 'session']);

/** Whether `words` is one word alone that also names counts and switches (AMBIGUOUS). */
export function namesLiteralsToo(words: readonly string[]): boolean {
  return words.length === 1 && AMBIGUOUS.has(words[0]!);
}

/** The library key rule that `words` (from `nameWords`) fall under, if any. */
export function libraryKeyRule(words: readonly string[]): RuleId | undefined {
  const [last, previous] = head(words);
  if (last === undefined) return undefined;
  if (last === 'pass' && previous === undefined) return 'key-password';
  const exact = LAST_WORDS.get(last);
  if (exact !== undefined) return exact;
  if (previous !== undefined) {
    if (last === 'key' && KEY_KINDS.has(previous)) return 'key-api-key';
    if ((last === 'word' || last === 'phrase') && previous === 'pass') return 'key-password';
    if ((last === 'pass' || last === 'pw') && PASS_OWNERS.has(previous)) return 'key-password';
    if (last === 'id' && previous === 'session') return 'key-session';
    if (last === 'sid' && previous === 'connect') return 'key-session';
    if ((last === 'number' || last === 'num' || last === 'no') && CARD_WORDS.has(previous)) return 'key-card-data';
    if (last === 'card' && previous === 'credit') return 'key-card-data';
    if (last === 'code' && previous === 'security') return 'key-card-data';
    if (last === 'verification' && previous === 'card') return 'key-card-data';
  }
  for (const [noun, rule] of GLUED) if (last.endsWith(noun)) return rule;
  return undefined;
}
