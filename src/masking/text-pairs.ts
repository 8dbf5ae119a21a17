/**
 * Named values inside free text: what a service writes when it logs a request, a config, a
 * command line or an object. The name is judged by the key rules (a policy's `ruleFor`: the
 * operator's keys and the library's key rules, by words), and the value under a masked name is
 * masked as a metadata value under that key would be. The shapes:
 *
 *   password=hunter2  passwd: hunter2  "password":"hunter2"  'password': 'hunter2'
 *   {\"password\":\"hunter2\"} (JSON escaped in a string)  :password => "x"  Password:hunter2 (Go)
 *   ?api_key=abc&x=1  user[password]=x (Rails)  $password = 'x'  password := "x"
 *   Authorization: Basic dXNlcjpwYXNz  Cookie: sid=abc; theme=dark  api key: abc (two words)
 *   <password>hunter2</password>  <wsse:Password Type="…">hunter2</wsse:Password>
 *   --password hunter2  -storepass changeit  curl -u user:hunter2  docker login -p hunter2
 *   mysql -phunter2  redis-cli -a hunter2  auth=('user', 'hunter2')
 *
 * Where the value ends: at its closing quote when quoted, at the end of a balanced `{…}`, `[…]`
 * or `(…)`, else at the end of its token (whitespace, `& , ; | ) ] } >`); an Authorization scheme
 * takes the credentials after it (`Basic dXNl…`), a Cookie or Set-Cookie value runs to the end of
 * the line, and after `name: ` (header and YAML style) the value runs on over words to the end of
 * the line, up to the next `name=` or `name:`, since such values may hold spaces.
 *
 * Linear: the scan visits each character once, reads back at most MAX_NAME_CHARS from a
 * separator for its name, and goes on after the value it masked.
 */

export interface PairJudge<Rule> {
  /** The key rule of a name, or undefined when its value is kept. */
  ruleFor(name: string): Rule | undefined;
  /** What a value under a name of `rule` becomes; `value` itself when it is already masked. */
  maskValue(value: string, rule: Rule): string;
  /** Whether values of `rule` are Cookie headers (they run to the end of the line). */
  isCookie(rule: Rule): boolean;
  /** Whether a name of one word may be the end of a name of two (`key` of `api key`). */
  endsLongerName(name: string): boolean;
}

/** Longer runs before a separator are not names. */
const MAX_NAME_CHARS = 64;
/** A word before a name that needs it (`api key:`). */
const MAX_WORD_CHARS = 32;
/** How far a tag's attributes are read for its `>`. */
const MAX_TAG_CHARS = 512;
const AUTH_SCHEMES = new Set(['basic', 'bearer', 'digest', 'token', 'negotiate', 'ntlm', 'hoba', 'mutual', 'aws4-hmac-sha256', 'apikey', 'key', 'jwt', 'oauth', 'dpop', 'sso-key']);
const PAIR_START = /^[^\s=:"'<>]{1,64}[=:]/;
/** Unquoted values that say there is none: nothing to hide. */
const LITERALS = new Set(['null', 'nil', 'none', 'undefined', 'true', 'false']);

const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function isLineEnd(c: number): boolean {
  return c === 0x0a || c === 0x0d || Number.isNaN(c);
}

function isWhitespace(c: number): boolean {
  return isSpace(c) || isLineEnd(c) || c === 0x0b || c === 0x0c || c === 0xa0 || c === 0x3000 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f;
}

/**
 * A character of a name: ASCII letters, digits, `_ - .`, and any other character that is not a
 * space or a full-width separator (other scripts, look-alikes and invisible characters are read
 * by the key rules).
 */
function isNameChar(c: number): boolean {
  if (c < 0x80) return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 46;
  return !isWhitespace(c) && c !== 0xff1a && c !== 0xff1d && c !== 0xff02 && c !== 0xff07;
}

/** Where a value that ends at a token boundary ends. */
function isTokenEnd(c: number): boolean {
  return (
    isWhitespace(c) || c === 0x26 || c === 0x2c || c === 0x3b || c === 0x7c || c === 0x29 || c === 0x5d || c === 0x7d || c === 0x3e || c === 0x3c || c === QUOTE || c === APOSTROPHE
  );
}

function lineEnd(text: string, from: number): number {
  let i = from;
  while (!isLineEnd(text.charCodeAt(i))) i++;
  return i;
}

/** The index of the quote closing the string whose content starts at `from`, skipping escapes; -1 when none. */
function closingQuote(text: string, from: number, quote: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === quote) return i;
    else if (isLineEnd(c)) return -1;
  }
  return -1;
}

/** The end of the balanced `{…}`, `[…]` or `(…)` at `from`, strings skipped; the end of the text when it does not close. */
function balancedEnd(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE || c === APOSTROPHE) {
      const close = closingQuote(text, i + 1, c);
      if (close < 0) return text.length;
      i = close;
    } else if (c === 0x7b || c === 0x5b || c === 0x28) {
      depth++;
    } else if ((c === 0x7d || c === 0x5d || c === 0x29) && --depth === 0) {
      return i + 1;
    }
  }
  return text.length;
}

function tokenEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && !isTokenEnd(text.charCodeAt(i))) i++;
  return i;
}

interface Span {
  readonly start: number;
  readonly end: number;
}

/**
 * The value after a separator ending at `from`: its span (inside its quotes when quoted) and
 * where the scan goes on; null when there is none.
 */
function valueAfter(text: string, from: number, runsOn: boolean, cookie: boolean): { value: Span; next: number } | null {
  let q = from;
  let spaced = false;
  while (isSpace(text.charCodeAt(q))) {
    q++;
    spaced = true;
  }
  const c = text.charCodeAt(q);
  if (isLineEnd(c)) return null;
  if (c === BACKSLASH && text.charCodeAt(q + 1) === QUOTE) {
    const close = text.indexOf('\\"', q + 2);
    const end = close < 0 ? lineEnd(text, q) : close;
    return { value: { start: q + 2, end }, next: close < 0 ? end : close + 2 };
  }
  if (c === QUOTE || c === APOSTROPHE) {
    const close = closingQuote(text, q + 1, c);
    const end = close < 0 ? lineEnd(text, q) : close;
    return { value: { start: q + 1, end }, next: close < 0 ? end : close + 1 };
  }
  // `{"a": 1}`, `["x"]`, Python's `auth=('user', 'password')`.
  if (c === 0x7b || c === 0x5b || c === 0x28) {
    const end = balancedEnd(text, q);
    return { value: { start: q, end }, next: end };
  }
  if (cookie) {
    const end = lineEnd(text, q);
    return { value: { start: q, end }, next: end };
  }
  let end = tokenEnd(text, q);
  if (end === q || LITERALS.has(text.slice(q, end).toLowerCase())) return null;
  // `Basic dXNl…`, `Bearer abc`: the credentials follow the scheme.
  if (AUTH_SCHEMES.has(text.slice(q, end).toLowerCase())) {
    let after = end;
    while (isSpace(text.charCodeAt(after))) after++;
    if (after > end) {
      const credentials = tokenEnd(text, after);
      if (credentials > after) end = credentials;
    }
  }
  if (runsOn && spaced) {
    // `password: correct horse battery staple`: words to the end of the line, up to the next pair.
    for (;;) {
      let after = end;
      while (isSpace(text.charCodeAt(after))) after++;
      const c = text.charCodeAt(end);
      if (after === end || isLineEnd(text.charCodeAt(after)) || c === 0x2c || c === 0x3b) break;
      const word = tokenEnd(text, after);
      if (word === after || PAIR_START.test(text.slice(after, Math.min(word + 1, after + 66)))) break;
      end = word;
    }
  }
  return { value: { start: q, end }, next: end };
}

/**
 * The name found by `nameBefore`. One per scan, reused: a separator's name is read and judged
 * before any other, so a text full of `a=1` allocates nothing for names it keeps.
 */
interface NameSpan {
  start: number;
  end: number;
  bare: boolean;
}

/**
 * The name that ends at `end` (exclusive), quoted, bracketed or bare, into `into`; false when
 * there is none.
 */
function nameBefore(text: string, end: number, into: NameSpan): boolean {
  let j = end;
  while (j > 0 && isSpace(text.charCodeAt(j - 1)) && end - j < 16) j--;
  const close = text.charCodeAt(j - 1);
  if (close === QUOTE || close === APOSTROPHE) {
    const nameEnd = j - 1;
    const limit = Math.max(0, nameEnd - MAX_NAME_CHARS);
    for (let k = nameEnd - 1; k >= limit; k--) {
      const c = text.charCodeAt(k);
      if (c === close) {
        into.start = k + 1;
        into.end = text.charCodeAt(nameEnd - 1) === BACKSLASH ? nameEnd - 1 : nameEnd;
        into.bare = false;
        return into.start < into.end;
      }
      if (isLineEnd(c)) return false;
    }
    return false;
  }
  if (close === 0x5d) {
    // `user[password]=`: the `[` is looked for no further back than a name can be long.
    let open = j - 2;
    const limit = Math.max(0, j - 2 - MAX_NAME_CHARS);
    while (open >= limit && text.charCodeAt(open) !== 0x5b) open--;
    into.start = open + 1;
    into.end = j - 1;
    into.bare = false;
    return open >= limit && into.start < into.end;
  }
  let k = j;
  while (k > 0 && isNameChar(text.charCodeAt(k - 1))) {
    k--;
    if (j - k > MAX_NAME_CHARS) return false;
  }
  into.start = k;
  into.end = j;
  into.bare = true;
  return k < j;
}

/** The word before a bare name, for two-word names (`api key: …`); null when there is none. */
function wordBefore(text: string, nameStart: number): string | null {
  if (!isSpace(text.charCodeAt(nameStart - 1)) || isSpace(text.charCodeAt(nameStart - 2))) return null;
  let k = nameStart - 1;
  while (k > 0 && isNameChar(text.charCodeAt(k - 1))) {
    k--;
    if (nameStart - 1 - k > MAX_WORD_CHARS) return null;
  }
  return k < nameStart - 1 ? text.slice(k, nameStart - 1) : null;
}

/**
 * What may start a named value at `i`: a separator (`=`, `:`, full-width `＝`, `：`), an XML
 * element (`<` and a letter), or a `--flag` at the start of a word. A loop over character codes:
 * a regular expression's exec() per separator costs more than the separator's whole judgement.
 */
function triggerAt(text: string, i: number): 'separator' | 'element' | 'flag' | null {
  const c = text.charCodeAt(i);
  if (c === 0x3d || c === 0x3a || c === 0xff1a || c === 0xff1d) return 'separator';
  if (c === 0x3c) {
    const next = text.charCodeAt(i + 1);
    return (next >= 97 && next <= 122) || (next >= 65 && next <= 90) || next === 0x5f || (next >= 0x80 && !isWhitespace(next)) ? 'element' : null;
  }
  if (c === 0x2d && (i === 0 || isWhitespace(text.charCodeAt(i - 1)))) {
    const next = text.charCodeAt(text.charCodeAt(i + 1) === 0x2d ? i + 2 : i + 1);
    return (next >= 97 && next <= 122) || (next >= 65 && next <= 90) ? 'flag' : null;
  }
  return null;
}

/** `text` with the values of masked names masked; `text` itself when there are none. */
export function maskNamedValues<Rule>(text: string, judge: PairJudge<Rule>): string {
  let out = '';
  let copied = 0;
  let commands: PasswordCommands | undefined;
  for (let i = 0; i < text.length; i++) {
    const trigger = triggerAt(text, i);
    if (trigger === null) continue;
    let found: Found<Rule>;
    if (trigger === 'element') found = elementValue(text, i, judge);
    else if (trigger === 'separator') found = separatedValue(text, i, judge);
    else found = flagValue(text, i, judge, (commands ??= new PasswordCommands(text)));
    if (found === null) continue;
    const { value, next, rule } = found;
    const raw = text.slice(value.start, value.end);
    const masked = raw === '' ? raw : judge.maskValue(raw, rule);
    i = next - 1;
    if (masked === raw) continue;
    out += text.slice(copied, value.start) + masked;
    copied = value.end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

type Found<Rule> = { value: Span; next: number; rule: Rule } | null;

/** The scratch of nameBefore: read right after it returns, before anything can reenter. */
const NAME: NameSpan = { start: 0, end: 0, bare: false };

function separatedValue<Rule>(text: string, at: number, judge: PairJudge<Rule>): Found<Rule> {
  const sep = text.charCodeAt(at);
  const after = text.charCodeAt(at + 1);
  const colon = sep === 0x3a || sep === 0xff1a;
  // `https://` (also JSON-escaped, `https:\/\/`), `std::string`, `::1`, `a == b`, `a != b`.
  if (colon && (after === 0x2f || (after === BACKSLASH && text.charCodeAt(at + 2) === 0x2f) || after === 0x3a || text.charCodeAt(at - 1) === 0x3a)) return null;
  if (sep === 0x3d && (after === 0x3d || text.charCodeAt(at - 1) === 0x3d || text.charCodeAt(at - 1) === 0x21)) return null;
  // `…vE6xCSC= next`: base64 padding, not `name=`; `password= x` with nothing right after `=` is rare.
  if (sep === 0x3d && isNameChar(text.charCodeAt(at - 1)) && (isWhitespace(after) || Number.isNaN(after))) return null;
  const named = NAME;
  if (!nameBefore(text, at, named)) return null;
  const name = text.slice(named.start, named.end);
  let rule = judge.ruleFor(name);
  const { start: nameStart, bare } = named;
  if (rule === undefined && bare && judge.endsLongerName(name)) {
    const word = wordBefore(text, nameStart);
    if (word !== null) rule = judge.ruleFor(`${word} ${name}`);
  }
  if (rule === undefined) return null;
  let from = at + 1;
  // `=>` (Ruby), `:=` (Go).
  if ((sep === 0x3d && after === 0x3e) || (colon && after === 0x3d)) from++;
  // `Failed to verify signature: key rotation in progress` is prose: after `name: ` in the middle
  // of a sentence, a plain word is not a value. At the start of a line or a segment (`{ , ; |`),
  // or with a value that looks like a credential, it is one. Judged before the value is read:
  // a value after `name: ` runs on to the end of its line, and a line of such names read that
  // far from each one would be read once per name.
  if (colon && bare && isSpace(after) && !atSegmentStart(text, nameStart) && isPlainWord(text, valueStart(text, from))) return null;
  const value = valueAfter(text, from, colon, judge.isCookie(rule));
  return value === null ? null : { ...value, rule };
}

/** Where the value valueAfter reads from `from` starts: after the spaces and inside its quotes. */
function valueStart(text: string, from: number): number {
  let q = from;
  while (isSpace(text.charCodeAt(q))) q++;
  const c = text.charCodeAt(q);
  if (c === BACKSLASH && text.charCodeAt(q + 1) === QUOTE) return q + 2;
  return c === QUOTE || c === APOSTROPHE ? q + 1 : q;
}

/** Whether only spaces, or a delimiter that starts a segment, come before `at` on its line. */
function atSegmentStart(text: string, at: number): boolean {
  let i = at;
  while (i > 0 && isSpace(text.charCodeAt(i - 1))) i--;
  if (i === 0) return true;
  const c = text.charCodeAt(i - 1);
  return isLineEnd(c) || c === 0x7b || c === 0x2c || c === 0x3b || c === 0x7c || c === 0x28 || c === 0x5b || c === QUOTE || c === APOSTROPHE || c === 0x2d || c === 0x3e;
}

/** Whether the value at `from` starts with a word of letters, lower case after its first: prose. */
function isPlainWord(text: string, from: number): boolean {
  let i = from;
  const first = text.charCodeAt(i);
  if (!((first >= 97 && first <= 122) || (first >= 65 && first <= 90))) return false;
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isSpace(c) || isLineEnd(c) || c === 0x2c || c === 0x3b || c === 0x2e) return true;
    if (c < 97 || c > 122) return false;
  }
  return true;
}

/** `<password>hunter2</password>`, `<wsse:Password Type="…">hunter2</wsse:Password>`. */
function elementValue<Rule>(text: string, at: number, judge: PairJudge<Rule>): Found<Rule> {
  let i = at + 1;
  while (i < text.length && i - at <= MAX_NAME_CHARS && (isNameChar(text.charCodeAt(i)) || text.charCodeAt(i) === 0x3a)) i++;
  const tag = text.slice(at + 1, i);
  // The attributes, read a bounded distance: no `<` inside, a `>` that does not close the element itself.
  const limit = Math.min(text.length, at + MAX_TAG_CHARS);
  while (i < limit && text.charCodeAt(i) !== 0x3e && text.charCodeAt(i) !== 0x3c) i++;
  if (text.charCodeAt(i) !== 0x3e || text.charCodeAt(i - 1) === 0x2f) return null;
  const rule = judge.ruleFor(tag.slice(tag.lastIndexOf(':') + 1));
  if (rule === undefined) return null;
  const end = text.indexOf('<', i + 1);
  const value = { start: i + 1, end: end < 0 ? lineEnd(text, i + 1) : end };
  return { value, next: value.end, rule };
}

/**
 * `--password hunter2`, `-storepass changeit` (keytool, openssl: one dash), and the password of
 * `-u user:password` / `--user user:password` (curl, wget). `--password=hunter2` is a separator
 * like any other.
 */
function flagValue<Rule>(text: string, at: number, judge: PairJudge<Rule>, commands: PasswordCommands): Found<Rule> {
  const nameStart = text.charCodeAt(at + 1) === 0x2d ? at + 2 : at + 1;
  if (nameStart - at === 1 && commands.inForce(text[nameStart]!, at)) {
    // MySQL's `-pSecret`, glued to its flag, runs to the next space; `docker login -p Secret`.
    let end = nameStart + 1;
    while (end < text.length && !isWhitespace(text.charCodeAt(end))) end++;
    if (end > nameStart + 1) return passwordValue({ value: { start: nameStart + 1, end }, next: end }, judge);
    let q = end;
    while (isSpace(text.charCodeAt(q))) q++;
    return text.charCodeAt(q) === 0x2d ? null : passwordValue(valueAfter(text, q, false, false), judge);
  }
  let i = nameStart;
  while (i < text.length && i - at <= MAX_NAME_CHARS && isNameChar(text.charCodeAt(i))) i++;
  if (!isSpace(text.charCodeAt(i))) return null;
  const name = text.slice(nameStart, i);
  let q = i;
  while (isSpace(text.charCodeAt(q))) q++;
  if (text.charCodeAt(q) === 0x2d) return null;
  if (name === 'u' || name === 'user') return userPassword(text, q, judge);
  // Other one-letter flags (`-p 5432`, `-h db`) say too little of what follows.
  if (nameStart - at === 1 && i - nameStart < 2) return null;
  const rule = judge.ruleFor(name);
  if (rule === undefined) return null;
  const value = valueAfter(text, q, false, false);
  return value === null ? null : { ...value, rule };
}

/** `value` masked as a password: by the rule a name `password` has. */
function passwordValue<Rule>(value: { value: Span; next: number } | null, judge: PairJudge<Rule>): Found<Rule> {
  const rule = judge.ruleFor('password');
  return value === null || rule === undefined ? null : { ...value, rule };
}

/**
 * Commands whose one-letter flag takes a password, by the letter: `-p` is a port to psql and
 * ssh, but a password to `docker login`, `sshpass` and MySQL (glued: `-pSecret`); `-a` is
 * redis-cli's.
 */
const PASSWORD_FLAG_COMMANDS: Readonly<Record<string, RegExp>> = {
  p: /(?:^|[\s;&|(`'"/])(?:docker login|podman login|nerdctl login|sshpass|mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)[ \t]/g,
  a: /(?:^|[\s;&|(`'"/])redis-cli[ \t]/g,
};

/**
 * Where in one text a command of PASSWORD_FLAG_COMMANDS is in force: from the command to the end
 * of its line. Each letter's commands are found in one pass over the text, when the first flag
 * of that letter is met, so a text of many `-p` costs no more than one read per letter.
 */
class PasswordCommands {
  readonly #text: string;
  /** Per letter: start and end of each span, in order, the spans apart. */
  readonly #spans = new Map<string, number[]>();

  constructor(text: string) {
    this.#text = text;
  }

  /** Whether a command that takes a password as `-<letter>` comes before `at` on its line. */
  inForce(letter: string, at: number): boolean {
    const command = PASSWORD_FLAG_COMMANDS[letter];
    if (command === undefined) return false;
    let spans = this.#spans.get(letter);
    if (spans === undefined) {
      spans = [];
      for (const match of this.#text.matchAll(command)) {
        const start = match.index + match[0].length;
        // A command on a line that one before already holds: that span runs to the line's end.
        if (spans.length > 0 && start <= spans[spans.length - 1]!) continue;
        spans.push(start, lineEnd(this.#text, start));
      }
      this.#spans.set(letter, spans);
    }
    // The last span that starts at or before `at`.
    let low = 0;
    let high = spans.length / 2;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (spans[2 * mid]! <= at) low = mid + 1;
      else high = mid;
    }
    return low > 0 && at < spans[2 * low - 1]!;
  }
}

/** The password of `user:password` at `from`, masked as a password would be; the user is kept. */
function userPassword<Rule>(text: string, from: number, judge: PairJudge<Rule>): Found<Rule> {
  const value = valueAfter(text, from, false, false);
  if (value === null) return null;
  // The `:` is looked for in the value only: a search to the end of the text, from every `-u`
  // of a text of them, would read it once per flag.
  let colon = value.value.start;
  while (colon < value.value.end && text.charCodeAt(colon) !== 0x3a) colon++;
  const rule = judge.ruleFor('password');
  if (colon === value.value.end || rule === undefined) return null;
  return { value: { start: colon + 1, end: value.value.end }, next: value.next, rule };
}
