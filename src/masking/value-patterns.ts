/**
 * Value patterns: secrets recognised by their shape wherever they appear in `message` or in a
 * string value of `metadata`, whatever the key.
 *
 * The built-ins are one regular expression, so a string is scanned once. They are written so
 * that no input makes them backtrack more than linearly (irregexp is a backtracking engine):
 * each starts only at the left edge of its token (a lookbehind refuses starts inside a token),
 * and each repetition is over a class disjoint from what follows it, so there is one way to
 * match. Custom patterns come from the operator; their cost is the operator's to judge.
 */
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import { LuhnPrefix } from './luhn.js';

export type PatternConfig = Config['masking']['patterns'];

/** Rewrites the secrets in `text`; returns `text` itself when there are none. */
export type TextMasker = (text: string) => string;

/**
 * A maximal run of digits joined by single spaces or dashes, with at least the 13 digits of the
 * shortest card number. Which part of it is a card is decided in code (`maskCardRun`).
 */
const CARD_RUN = String.raw`(?<!\d[ -]?)\d(?:[ -]?\d){12,}`;
/** RFC 6750 `Bearer b64token`; the scheme is case-insensitive (RFC 7235 §2.1). */
const BEARER = String.raw`(?<![A-Za-z0-9])[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+[A-Za-z0-9\-._~+/]+=*`;
/** A compact JWS/JWT: base64url header (a JSON object: `{"` is `eyJ`), payload, signature. */
const JWT = String.raw`(?<![\w-])eyJ[\w-]+\.[\w-]+\.[\w-]*`;

/** Matches nothing: what the built-ins are when all are switched off. */
const NOTHING = '(?!)';

const BEARER_WORD_LENGTH = 'Bearer'.length;
const MIN_CARD_DIGITS = 13;
const MAX_CARD_DIGITS = 19;
/** PCI DSS allows at most the first six and last four digits of a card number to be shown. */
const CARD_DIGITS_KEPT = 4;

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * Card networks' first digits: 2 and 5 Mastercard, 3 Amex/Diners/JCB, 4 Visa, 6 Discover and
 * UnionPay. Without this, one in ten 13-digit epoch-millisecond times (`17…`) passes Luhn by
 * chance and a log's timestamps were masked as cards.
 */
function isCardFirstDigit(code: number): boolean {
  return code >= 50 && code <= 54;
}

function lastDigits(text: string, from: number, to: number, count: number): string {
  let kept = '';
  for (let i = to - 1; i >= from && kept.length < count; i--) {
    if (isDigit(text.charCodeAt(i))) kept = text[i] + kept;
  }
  return kept;
}

/**
 * Masks the card numbers in a run of digit groups. A card candidate is a span of whole groups
 * with 13–19 digits, starting with a card network's digit, that passes Luhn. Where candidates overlap, which one is the card cannot be
 * told, so their union is masked: choosing one could leave the true card's digits readable next
 * to the mask. Each masked stretch keeps its last four digits. A run with no separators is a
 * single group, so a long id never yields a card from its middle.
 */
function maskCardRun(run: string, replacement: string): string {
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < run.length; ) {
    starts.push(i);
    while (i < run.length && isDigit(run.charCodeAt(i))) i++;
    ends.push(i);
    i++;
  }
  const luhn = new LuhnPrefix();
  let out = '';
  let copied = 0;
  /** The stretch being masked, as text offsets; `maskedEnd` < 0 when there is none. */
  let maskedStart = 0;
  let maskedEnd = -1;
  const flush = (): void => {
    out += run.slice(copied, maskedStart) + replacement + lastDigits(run, maskedStart, maskedEnd, CARD_DIGITS_KEPT);
    copied = maskedEnd;
    maskedEnd = -1;
  };
  for (let first = 0; first < starts.length; first++) {
    if (maskedEnd >= 0 && starts[first]! > maskedEnd) flush();
    if (!isCardFirstDigit(run.charCodeAt(starts[first]!))) continue;
    luhn.reset();
    for (let last = first; last < starts.length; last++) {
      for (let i = starts[last]!; i < ends[last]! && luhn.count <= MAX_CARD_DIGITS; i++) luhn.push(run.charCodeAt(i) - 48);
      if (luhn.count > MAX_CARD_DIGITS) break;
      if (luhn.count < MIN_CARD_DIGITS || !luhn.valid) continue;
      if (maskedEnd < 0) maskedStart = starts[first]!;
      maskedEnd = Math.max(maskedEnd, ends[last]!);
    }
  }
  if (maskedEnd >= 0) flush();
  return copied === 0 ? run : out + run.slice(copied);
}

function compileCustom(patterns: PatternConfig['custom']): Array<{ regex: RegExp; replacement: string }> {
  return patterns.map((p, i) => {
    const where = `masking.patterns.custom[${i}] (${p.name})`;
    let regex: RegExp;
    try {
      regex = new RegExp(p.pattern, p.flags.includes('g') ? p.flags : `${p.flags}g`);
    } catch (err) {
      throw logstackError('CONFIG_INVALID', [`${where} is not a valid regular expression: ${(err as Error).message}`]);
    }
    if (regex.test('')) throw logstackError('CONFIG_INVALID', [`${where} matches the empty string, so it would rewrite every value`]);
    return { regex, replacement: p.replacement };
  });
}

/**
 * Compiles the enabled built-ins and the custom patterns once. Built-ins replace with
 * `replacement`; a bearer token keeps its `Bearer ` prefix and a card number its last four
 * digits. A custom pattern's replacement may use `$1`, `$<name>` as in String.prototype.replace.
 * Throws CONFIG_INVALID for a custom pattern that does not compile or matches the empty string.
 */
export function compileValuePatterns(patterns: PatternConfig, replacement: string): TextMasker {
  const alternatives: string[] = [];
  if (patterns.card_numbers) alternatives.push(CARD_RUN);
  if (patterns.bearer_tokens) alternatives.push(BEARER);
  if (patterns.jwts) alternatives.push(JWT);
  const source = alternatives.length > 0 ? alternatives.join('|') : NOTHING;
  // Most strings hold no secret: test() is several times cheaper than a replace() that finds nothing.
  const detect = new RegExp(source);
  const rewrite = new RegExp(source, 'g');
  // The built-ins start with disjoint characters (digit, B/b, e): the first one tells which matched.
  const onMatch = (match: string): string => {
    if (isDigit(match.charCodeAt(0))) return maskCardRun(match, replacement);
    if (match[0] === 'e') return replacement;
    let tokenStart = BEARER_WORD_LENGTH;
    while (match[tokenStart] === ' ' || match[tokenStart] === '\t') tokenStart++;
    return match.slice(0, tokenStart) + replacement;
  };
  const custom = compileCustom(patterns.custom);

  return (text) => {
    let out = detect.test(text) ? text.replace(rewrite, onMatch) : text;
    for (const { regex, replacement: customReplacement } of custom) out = out.replace(regex, customReplacement);
    return out;
  };
}
