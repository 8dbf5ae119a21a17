/**
 * Payment card numbers in text, and card numbers a client sent as JSON numbers.
 *
 * A card is 13–19 digits (of any script, unicode-digits.ts) whose first digits are a card
 * network's, that pass the Luhn check, and that are written as cards are written: in one piece,
 * or in groups of four (the last one shorter: `4111 1111 1111 1111 123`), or Amex's and Diners'
 * 4-6-5 and 4-6-4. Between groups, up to three separators of any kind people and programs use:
 * spaces (NBSP, thin, ideographic), tabs, dashes, dots, slashes, underscores, invisible
 * characters. The grouping rule is what keeps `200-1796231684448` (a status and an epoch-ms
 * time) from being read as a card; the first digits keep 15-digit IMEIs (`35…`, Luhn-valid) out.
 */
import { LuhnPrefix } from './luhn.js';
import { DIGIT_CLASS, digitValue } from './unicode-digits.js';

const SEPARATOR = '[ \\t\\u00a0\\u2007\\u2009\\u200a\\u202f\\u3000._/\\-\\u2010-\\u2015\\u2212\\uff0d\\uff0e\\uff0f\\uff3f\\u00ad\\u200b-\\u200d\\u2060\\ufeff]';

/**
 * A run of digits joined by at most three separators, with at least 13 digits, from its first
 * group of four or more digits on: no card starts with a shorter group, so the shorter groups
 * before it (`ref 12-4111…`, `7 4111 1111 …`) are not read, and most digits of a text (in times,
 * ids, IPs) are passed over at the cost of a character class. Which part of the run is a card is
 * decided in code (`maskCardRun`). Linear: a run starts only at a group not preceded by a digit,
 * nor by a group of four digits within three separators (one start per run), nor by a decimal
 * comma; each repetition is a separator class then a digit class, disjoint, so the greedy run is
 * the only match.
 */
export const CARD_RUN = `(?<!${DIGIT_CLASS}|${DIGIT_CLASS}{4}${SEPARATOR}{1,3}|${DIGIT_CLASS},)${DIGIT_CLASS}{4}(?:${SEPARATOR}{0,3}${DIGIT_CLASS}){9,}`;

const MIN_CARD_DIGITS = 13;
const MAX_CARD_DIGITS = 19;
/** PCI DSS allows at most the first six and last four digits of a card number to be shown. */
const CARD_DIGITS_KEPT = 4;

/**
 * Whether a card number of `length` digits may start with `first` and `second` (ISO/IEC 7812
 * issuer ranges of the networks in use): 2 Mastercard, 3 Amex (34, 37; 15 digits), Diners (30,
 * 36, 38, 39) and JCB (35), 4 Visa, 5 Mastercard and Maestro, 6 Discover, UnionPay, Maestro.
 */
export function isCardStart(first: number, second: number, length: number): boolean {
  switch (first) {
    case 2:
      return length >= 16;
    case 3:
      if (second === 4 || second === 7) return length === 15;
      if (second === 5) return length >= 16;
      return (second === 0 || second === 6 || second === 8 || second === 9) && length >= 14;
    case 4:
      return length !== 14 && length !== 15;
    case 5:
    case 6:
      return true;
    default:
      return false;
  }
}

/** Groups `from`–`to` of `lengths` are laid out as a card number is written. */
function isCardLayout(lengths: Int32Array, from: number, to: number): boolean {
  if (from === to) return true;
  if (to - from === 2 && lengths[from] === 4 && lengths[from + 1] === 6 && (lengths[to] === 5 || lengths[to] === 4)) return true;
  for (let g = from; g < to; g++) if (lengths[g] !== 4) return false;
  return lengths[to]! <= 4;
}

/**
 * Group `g` is the fraction of a decimal number (`57.648836774751544`, `0,30000000000000004`): a
 * group of five or more digits right after a `.` or `,` that follows a digit. Cards written with
 * dots have groups of four.
 */
function isFraction(run: string, starts: Int32Array, ends: Int32Array, lengths: Int32Array, g: number): boolean {
  if (g === 0 || lengths[g]! < 5 || starts[g]! - ends[g - 1]! !== 1) return false;
  const separator = run.charCodeAt(starts[g]! - 1);
  return separator === 0x2e || separator === 0x2c;
}

/** Whether `run` is digits only, ASCII: most runs in logs are (times, ids), and need no grouping. */
function isOneNumber(run: string): boolean {
  for (let i = 0; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether ASCII `digits` (13 or more) are a card number: a network's start, its length, Luhn. */
function isCardNumber(digits: string): boolean {
  if (digits.length > MAX_CARD_DIGITS || !isCardStart(digits.charCodeAt(0) - 48, digits.charCodeAt(1) - 48, digits.length)) return false;
  const luhn = new LuhnPrefix();
  for (let i = 0; i < digits.length; i++) luhn.push(digits.charCodeAt(i) - 48);
  return luhn.valid;
}

function lastDigits(text: string, from: number, to: number, count: number): string {
  let kept = '';
  let digits = 0;
  let start = to;
  for (let i = to - 1; i >= from && digits < count; i--) {
    if (digitValue(text.charCodeAt(i)) >= 0) {
      digits++;
      start = i;
    }
  }
  for (let i = start; i < to; i++) if (digitValue(text.charCodeAt(i)) >= 0) kept += text[i];
  return kept;
}

/**
 * `run` (a match of CARD_RUN) with the card numbers in it masked, each masked stretch keeping
 * its last four digits; `run` itself when it holds none. Where candidates overlap, which one is
 * the card cannot be told, so their union is masked: choosing one could leave the true card's
 * digits readable next to the mask. A group glued to a letter (`a94111…`, `…1111b`: a hex hash,
 * an identifier) belongs to a word, not to a card: `gluedLeft` and `gluedRight` say whether a
 * letter touches the run's first or last group.
 */
export function maskCardRun(run: string, replacement: string, gluedLeft = false, gluedRight = false): string {
  if (isOneNumber(run)) return gluedLeft || gluedRight || !isCardNumber(run) ? run : replacement + run.slice(-CARD_DIGITS_KEPT);
  // Typed arrays of the run's groups, counted first: a run of 100,000 groups in JS arrays would
  // live in V8's large-object space, where each access costs many times as much.
  let groups = 0;
  for (let i = 0; i < run.length; i++) if (digitValue(run.charCodeAt(i)) >= 0 && (i === 0 || digitValue(run.charCodeAt(i - 1)) < 0)) groups++;
  const starts = new Int32Array(groups);
  const ends = new Int32Array(groups);
  const lengths = new Int32Array(groups);
  for (let i = 0, g = 0; g < groups; g++) {
    while (digitValue(run.charCodeAt(i)) < 0) i++;
    starts[g] = i;
    while (i < run.length && digitValue(run.charCodeAt(i)) >= 0) i++;
    ends[g] = i;
    lengths[g] = i - starts[g]!;
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
    // A card grouped by fours starts where such a sequence starts, or right after a card: inside
    // a longer sequence (`9400 1548 3680 9582 8164 52`, a parcel's tracking number) it is not one.
    const afterCard = maskedEnd >= 0 && ends[first - 1] === maskedEnd;
    if (maskedEnd >= 0 && starts[first]! > maskedEnd) flush();
    const d1 = digitValue(run.charCodeAt(starts[first]!));
    if (d1 < 2 || d1 > 6 || (first === 0 && gluedLeft) || isFraction(run, starts, ends, lengths, first)) continue;
    if (first > 0 && lengths[first] === 4 && lengths[first - 1] === 4 && !afterCard && !(first === 1 && gluedLeft)) continue;
    // A card is one piece or starts with a group of four (isCardLayout): a run of short groups
    // (`4 4 4 4 …`) starts none, and is passed over at the cost of one comparison per group.
    if (lengths[first] !== 4 && lengths[first]! < MIN_CARD_DIGITS) continue;
    const lastUsable = gluedRight ? starts.length - 2 : starts.length - 1;
    const d2 = lengths[first]! > 1 ? digitValue(run.charCodeAt(starts[first]! + 1)) : first + 1 < starts.length ? digitValue(run.charCodeAt(starts[first + 1]!)) : -1;
    luhn.reset();
    for (let last = first; last <= lastUsable; last++) {
      for (let i = starts[last]!; i < ends[last]! && luhn.count <= MAX_CARD_DIGITS; i++) luhn.push(digitValue(run.charCodeAt(i)));
      if (luhn.count > MAX_CARD_DIGITS) break;
      if (luhn.count >= MIN_CARD_DIGITS && luhn.valid && isCardStart(d1, d2, luhn.count) && isCardLayout(lengths, first, last)) {
        if (maskedEnd < 0) maskedStart = starts[first]!;
        maskedEnd = Math.max(maskedEnd, ends[last]!);
      }
      // Groups after this one make a card only after a group of four, or after 4-6 (Amex,
      // Diners): at most five groups are read from each start, whatever the run's length.
      if (lengths[last] !== 4 && !(last === first + 1 && lengths[last] === 6)) break;
    }
  }
  if (maskedEnd >= 0) flush();
  return copied === 0 ? run : out + run.slice(copied);
}

/** 2^53: from here on JSON.parse has rounded an integer to the nearest double. */
const EXACT_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * What a JSON number a client sent becomes: a card number (13–19 digits, checked as text) is
 * masked like one in text; an integer of 16–19 digits beyond 2^53 that starts like a card is
 * masked whole, since JSON parsing already rounded it (`6177503476599092006` arrives as
 * `6177503476599092000`): its Luhn check cannot be made and its last digits are not the card's.
 * Anything else is kept as the number it is.
 */
export function maskCardNumberValue(value: number, replacement: string, maskRun: (digits: string) => string): number | string {
  if (!Number.isInteger(value)) return value;
  const magnitude = Math.abs(value);
  if (magnitude < 1e12 || magnitude >= 1e19) return value;
  const text = String(value);
  if (magnitude <= EXACT_LIMIT) {
    const masked = maskRun(text);
    return masked === text ? value : masked;
  }
  const digits = value < 0 ? text.slice(1) : text;
  const first = digits.charCodeAt(0) - 48;
  if (!isCardStart(first, digits.charCodeAt(1) - 48, digits.length)) return value;
  return (value < 0 ? '-' : '') + replacement;
}
