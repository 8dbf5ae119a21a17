/**
 * Value rules: secrets recognised by their shape wherever they are in a text, whatever the key.
 *
 * The enabled rules are one regular expression, so a text is scanned once, and most texts hold
 * no secret: a test() settles those. Each match is then judged in code (a card's Luhn check and
 * grouping, a Basic credential's decoding, a token's body, a JWT's three parts) and may be let
 * go. No input makes the scan more than linear (irregexp is a backtracking engine): each
 * alternative starts at a fixed literal (a token's prefix, `eyJ`, `://`, `-----BEGIN `) or at
 * the left edge of its run (a lookbehind refuses starts inside a run), each repetition is over a
 * class disjoint from what follows it, and what a match leads to in code reads forward a bounded
 * distance, or to the end of the text once, and the scan goes on after what it read.
 */
import { CARD_RUN, maskCardRun } from './card-numbers.js';
import { maskEmail } from './partial-masks.js';
import type { RuleId } from './rules.js';
import { matchToken, prefixAlternation } from './token-formats.js';

/** Rewrites the secrets in `text`; returns `text` itself when there are none. */
export type TextMasker = (text: string) => string;

/**
 * The text a string is part of (a log line, for the strings of a JSON line), for rules whose
 * anchor may be elsewhere in it: AWS secret keys. What it anchors is worked out once, when first
 * needed.
 */
export interface AnchorScope {
  readonly text: string;
  aws?: boolean;
}

export interface ValuePatterns {
  /**
   * `text` with the secrets of the value rules masked; `text` itself when there are none.
   * `scope`: the text `text` is part of, when it is part of one.
   */
  mask(text: string, scope?: AnchorScope): string;
}

/** `-----BEGIN RSA PRIVATE KEY-----`, `-----BEGIN OPENSSH PRIVATE KEY-----`, `… PGP PRIVATE KEY BLOCK-----`. */
const PEM_BEGIN = '-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----';
/** `scheme://`, also with the slashes JSON-escaped (`https:\/\/`). */
const URL_AUTHORITY = ':(?://|\\\\/\\\\/)';
/**
 * `Bearer`, the scheme in any case (RFC 7235 §2.1), then a space, `:`, `=`, `%20` or `+`, before
 * the first character of RFC 6750's b64token. The token is read in code (`TokenRun`): read by
 * the expression, it would be read again from each `Bearer+` inside it (`+` is both a separator
 * and a token character), and a text of them would cost the square of its length.
 */
const BEARER = '(?<![A-Za-z0-9])[Bb][Ee][Aa][Rr][Ee][Rr](?:[ \\t]+|[ \\t]*[:=][ \\t]*|%20|\\+)(?=[A-Za-z0-9\\-._~+/])';
/**
 * A word after `Bearer` is prose (`Bearer token expired`, `Bearer realm="api"`), not a token: real
 * tokens mix cases, digits or symbols, or are long. A shorter token of one word's letters stays.
 */
const WORD = /^[A-Za-z][a-z]*$/;
const MIN_WORD_LIKE_TOKEN = 20;
/** `Basic` and its separator before a base64 character; the credentials are read in code, as Bearer's. */
const BASIC = '(?<![A-Za-z0-9])[Bb][Aa][Ss][Ii][Cc](?:[ \\t]+|[ \\t]*[:=][ \\t]*|%20|\\+)(?=[A-Za-z0-9+/])';
/** Base64 of `user:password` is at least this long, padding aside. */
const MIN_BASIC_CHARS = 4;
/** A JWT's header is a base64url JSON object (`{"` is `eyJ`); glued to a word before it too. */
const JWT_HEADER = 'eyJ[A-Za-z0-9_-]*';
const EMAIL = '(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+';

/** Where the text may hold an AWS secret key: it names AWS or holds an AWS key id. */
const AWS_ANCHOR = /aws|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/i;
/** Exactly 40 base64 characters standing alone. */
const AWS_SECRET = /(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])/g;
/**
 * A run long enough to hold one. It starts only at a run's start: from every position it would
 * read on up to 40 characters, and a line of words would cost 20 times its length.
 */
const AWS_SECRET_RUN = /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}/;
/**
 * Bits per character below which 40 characters are not a random key. An AWS secret is 40
 * characters of 64: about 5.0 bits measured on itself; words, paths and ids score well under 4.
 */
const MIN_SECRET_ENTROPY = 4.2;
const HEX_ONLY = /^[0-9a-fA-F]+$/;

/** How far a URL's user and password are read: longer is not a credential but something else. */
const MAX_USERINFO_CHARS = 256;
/** Base64 of `user:password` long enough to read; longer runs are not HTTP credentials. */
const MAX_BASIC_CHARS = 4096;

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45;
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** A character of RFC 6750's b64token, its `=` padding aside. */
function isBearerChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2b || c === 0x2f;
}

function isBase64Char(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 0x2b || c === 0x2f;
}

/**
 * The run of one alphabet's characters, then its `=` padding, that holds a position of a text.
 * The last one read is remembered until `reset`: every start inside a run (`Bearer+Bearer+…`)
 * ends where the run ends, so each is answered without reading the run again.
 */
class TokenRun {
  readonly #isRunChar: (c: number) => boolean;
  #from = 0;
  /** End of the run's characters, and of its padding after them. */
  end = 0;
  paddedEnd = 0;

  constructor(isRunChar: (c: number) => boolean) {
    this.#isRunChar = isRunChar;
  }

  /** Forgets the run: the next text is another. */
  reset(): void {
    this.#from = 0;
    this.end = 0;
  }

  /** Reads the run at `from`, a character of its alphabet, into `end` and `paddedEnd`. */
  read(text: string, from: number): void {
    if (from >= this.#from && from < this.end) return;
    let i = from;
    while (this.#isRunChar(text.charCodeAt(i))) i++;
    this.#from = from;
    this.end = i;
    while (text.charCodeAt(i) === 0x3d) i++;
    this.paddedEnd = i;
  }
}

/** Shannon entropy of `text` in bits per character. */
export function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/** Whether `token` (base64 after `Basic`) decodes to `user:password` in printable text. */
function isBasicCredential(token: string): boolean {
  if (token.length > MAX_BASIC_CHARS || token.length % 4 === 1) return false;
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * The end of a JWT whose header ends at `headerEnd`: a `.`, a payload, a `.` and a signature
 * (empty when unsigned); -1 when what follows is not that.
 */
function jwtEnd(text: string, headerEnd: number): number {
  if (text.charCodeAt(headerEnd) !== 0x2e) return -1;
  let i = headerEnd + 1;
  const payload = i;
  while (isWordChar(text.charCodeAt(i))) i++;
  if (i === payload || text.charCodeAt(i) !== 0x2e) return -1;
  i++;
  while (isWordChar(text.charCodeAt(i))) i++;
  return i;
}

/**
 * The password of `scheme://user:password@host` whose `://` ends at `from`: its start and end,
 * or null. The user stops at `/ ? # @ :` or a space; the password runs to the last `@` before a
 * space, or before a `?` or `#` that follows an `@` (a query): a password may hold `@` and `/`
 * unencoded (`postgres://u:p@ss/w@db`), and masking a path with it hides more than it must but
 * never less. What looks like a port (`host:8080/path?to=a@b`) is not a password.
 */
function urlPassword(text: string, from: number): { start: number; end: number } | null {
  let i = from;
  const limit = Math.min(text.length, from + MAX_USERINFO_CHARS);
  for (; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (isSpace(c) || c === 0x2f || c === 0x3f || c === 0x23 || c === 0x40 || c === 0x3a) break;
  }
  if (text.charCodeAt(i) !== 0x3a) return null;
  const start = i + 1;
  let at = -1;
  let portLike = true;
  let pathStart = -1;
  const end = Math.min(text.length, start + MAX_USERINFO_CHARS);
  for (i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    // Another URL starts: the password (if any) ended before it.
    if (isSpace(c) || (c === 0x3a && (text.startsWith('//', i + 1) || text.startsWith('\\/\\/', i + 1)))) break;
    if (c === 0x40) {
      at = i;
    } else if (c === 0x2f || c === 0x3f || c === 0x23) {
      if (at >= 0 && c !== 0x2f) break;
      if (pathStart < 0) pathStart = i;
    } else if (pathStart < 0 && (c < 48 || c > 57)) {
      portLike = false;
    }
  }
  if (at <= start) return null;
  if (portLike && pathStart >= 0 && pathStart < at) return null;
  return { start, end: at };
}

type MatchKind = 'pem' | 'token' | 'url' | 'bearer' | 'basic' | 'jwt' | 'card' | 'email';

/** What a match of the scan becomes: the span to replace and its replacement. */
interface Replacement {
  start: number;
  end: number;
  text: string;
}

class ValueRules implements ValuePatterns {
  readonly #rules: ReadonlySet<RuleId>;
  readonly #replacement: string;
  readonly #awsSecrets: boolean;
  readonly #detect: RegExp | null;
  readonly #scan: RegExp | null;
  /** Capture group of each kind of match; 0 when its rule is off. */
  readonly #groups: Record<MatchKind, number> = { pem: 0, token: 0, url: 0, bearer: 0, basic: 0, jwt: 0, card: 0, email: 0 };
  /** Reused for every match: the scan is synchronous and does not reenter. */
  readonly #found: Replacement = { start: 0, end: 0, text: '' };
  readonly #resume = { at: 0 };
  readonly #bearerToken = new TokenRun(isBearerChar);
  readonly #basicToken = new TokenRun(isBase64Char);

  constructor(rules: ReadonlySet<RuleId>, replacement: string) {
    this.#rules = rules;
    this.#replacement = replacement;
    this.#awsSecrets = rules.has('aws-secret-access-key');
    // Each enabled alternative is one capture group.
    const alternatives: string[] = [];
    const add = (kind: MatchKind, source: string | null): void => {
      if (source === null) return;
      alternatives.push(`(${source})`);
      this.#groups[kind] = alternatives.length;
    };
    const when = (rule: RuleId, source: string): string | null => (rules.has(rule) ? source : null);
    add('pem', when('private-key', PEM_BEGIN));
    add('token', prefixAlternation(rules));
    add('url', when('url-credentials', URL_AUTHORITY));
    add('bearer', when('bearer-token', BEARER));
    add('basic', when('basic-auth', BASIC));
    add('jwt', when('jwt', JWT_HEADER));
    add('card', when('card-number', CARD_RUN));
    add('email', when('email-address', EMAIL));
    this.#detect = alternatives.length === 0 ? null : new RegExp(alternatives.join('|'));
    this.#scan = alternatives.length === 0 ? null : new RegExp(alternatives.join('|'), 'g');
  }

  mask(text: string, scope?: AnchorScope): string {
    let out = text;
    if (this.#scan !== null && this.#detect!.test(text)) out = this.#maskMatches(text, this.#scan);
    // The anchor first: it is a cheap search for literals, a run of 40 is not. It is looked for in
    // the text as sent, since masking turns an AWS key id into `AKIA****`.
    if (this.#awsSecrets && (scope === undefined ? AWS_ANCHOR.test(text) : (scope.aws ??= AWS_ANCHOR.test(scope.text))) && AWS_SECRET_RUN.test(out)) {
      out = out.replace(AWS_SECRET, (key) => (!HEX_ONLY.test(key) && entropy(key) >= MIN_SECRET_ENTROPY ? this.#replacement : key));
    }
    return out;
  }

  #maskMatches(text: string, scan: RegExp): string {
    let out = '';
    let copied = 0;
    scan.lastIndex = 0;
    this.#bearerToken.reset();
    this.#basicToken.reset();
    for (let m = scan.exec(text); m !== null; m = scan.exec(text)) {
      if (!this.#judge(text, m)) continue;
      const found = this.#found;
      out += text.slice(copied, found.start) + found.text;
      copied = found.end;
      scan.lastIndex = found.end;
    }
    return copied === 0 ? text : out + text.slice(copied);
  }

  /** Whether match `m` is a secret; if so, what replaces what is in #found. */
  #judge(text: string, m: RegExpExecArray): boolean {
    const g = this.#groups;
    const found = this.#found;
    const replacement = this.#replacement;
    const start = m.index;
    const end = start + m[0].length;
    found.text = replacement;
    if (g.pem > 0 && m[g.pem] !== undefined) {
      const footer = text.indexOf('-----END ', end);
      const footerEnd = footer < 0 ? -1 : text.indexOf('-----', footer + 9);
      // A key cut short (a truncated log line) is masked to the end: it is still a key.
      found.start = end;
      found.end = footerEnd < 0 ? text.length : footer;
      return true;
    }
    if (g.token > 0 && m[g.token] !== undefined) {
      const token = matchToken(text, start, m[0], this.#rules, this.#resume);
      if (token === null) {
        this.#scan!.lastIndex = this.#resume.at;
        return false;
      }
      found.start = start + token.keep;
      found.end = token.end;
      return true;
    }
    if (g.url > 0 && m[g.url] !== undefined) {
      const password = urlPassword(text, end);
      if (password === null) return false;
      found.start = password.start;
      found.end = password.end;
      return true;
    }
    if (g.bearer > 0 && m[g.bearer] !== undefined) {
      const run = this.#bearerToken;
      run.read(text, end);
      // A token is followed by neither a token character nor more after its padding (`a==b`):
      // then no token starts here, and the scan goes on inside, as it does after a prefix.
      if (isBearerChar(text.charCodeAt(run.paddedEnd))) return false;
      const token = text.slice(end, run.paddedEnd);
      const bare = text.slice(end, run.end);
      this.#scan!.lastIndex = run.paddedEnd;
      // `Bearer realm="api"` is a challenge's parameter, not a token.
      if (token === replacement || (bare !== token && text.charCodeAt(run.paddedEnd) === 0x22)) return false;
      if (bare.length < MIN_WORD_LIKE_TOKEN && WORD.test(bare)) return false;
      found.start = end;
      found.end = run.paddedEnd;
      return true;
    }
    if (g.basic > 0 && m[g.basic] !== undefined) {
      const run = this.#basicToken;
      run.read(text, end);
      if (run.end - end < MIN_BASIC_CHARS || run.paddedEnd - run.end > 2 || isBase64Char(text.charCodeAt(run.paddedEnd))) return false;
      this.#scan!.lastIndex = run.paddedEnd;
      if (!isBasicCredential(text.slice(end, run.paddedEnd))) return false;
      found.start = end;
      found.end = run.paddedEnd;
      return true;
    }
    if (g.jwt > 0 && m[g.jwt] !== undefined) {
      // Not a JWT: no later `eyJ` of the same run can start one, so the scan goes on after it.
      const jwt = jwtEnd(text, end);
      if (jwt < 0) return false;
      found.start = start;
      found.end = jwt;
      return true;
    }
    if (g.card > 0 && m[g.card] !== undefined) {
      const masked = maskCardRun(m[0], replacement, isLetter(text.charCodeAt(start - 1)), isLetter(text.charCodeAt(end)));
      if (masked === m[0]) return false;
      found.start = start;
      found.end = end;
      found.text = masked;
      return true;
    }
    if (g.email > 0 && m[g.email] !== undefined) {
      found.start = start;
      found.end = end;
      found.text = maskEmail(m[0], replacement);
      return true;
    }
    return false;
  }
}

/**
 * Compiles the value rules of `rules` into one masker. Built-ins replace with `replacement`;
 * what each keeps is said in rules.ts.
 */
export function compileValuePatterns(rules: ReadonlySet<RuleId>, replacement: string): ValuePatterns {
  return new ValueRules(rules, replacement);
}
