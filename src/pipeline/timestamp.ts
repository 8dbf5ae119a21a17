/**
 * Strict RFC 3339 date-time parsing to a UTC epoch with nanosecond precision.
 *
 * Accepted: `YYYY-MM-DDTHH:MM:SS[.F]Z` or `…±hh:mm`, with 1–9 fraction digits and `T`/`Z` in
 * either case (RFC 3339 §5.6 allows lower case). Refused: a missing zone (the instant would
 * depend on the server's clock zone), more than 9 fraction digits (finer than Loki keeps),
 * impossible calendar dates and times, and the leap second `:60` (neither Loki's Go parser nor
 * an epoch count can represent it). No `Date.parse` fallback: it accepts too much.
 */

export interface EpochTimestamp {
  /** Whole seconds since 1970-01-01T00:00:00Z; negative before it. */
  readonly seconds: number;
  /** 0 ≤ nanos < 1e9. */
  readonly nanos: number;
}

export type TimestampParse = ({ readonly ok: true } & EpochTimestamp) | { readonly ok: false; readonly reason: string };

const SHAPE = 'must be an RFC 3339 date-time like 2025-09-24T12:00:00.000Z';
const CH_0 = 48;
const CH_9 = 57;

function fail(reason: string): TimestampParse {
  return { ok: false, reason };
}

/** The number at text[from, from + width) if every character there is a digit, else -1. */
function digits(text: string, from: number, width: number): number {
  let n = 0;
  for (let i = from; i < from + width; i++) {
    const c = text.charCodeAt(i);
    if (c < CH_0 || c > CH_9) return -1;
    n = n * 10 + (c - CH_0);
  }
  return n;
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

export function parseTimestamp(text: string): TimestampParse {
  if (text.length < 19) return fail(SHAPE);
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const sep = text[10];
  if (
    year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 ||
    text[4] !== '-' || text[7] !== '-' || (sep !== 'T' && sep !== 't') || text[13] !== ':' || text[16] !== ':'
  ) {
    return fail(SHAPE);
  }
  if (month < 1 || month > 12) return fail('has a month outside 01–12');
  if (day < 1 || day > daysInMonth(year, month)) return fail('has a day that this month does not have');
  if (hour > 23) return fail('has an hour outside 00–23');
  if (minute > 59) return fail('has a minute outside 00–59');
  if (second > 59) return fail('has a second outside 00–59 (leap seconds are not supported)');

  let pos = 19;
  let nanos = 0;
  if (text[pos] === '.') {
    const start = ++pos;
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c < CH_0 || c > CH_9) break;
      pos++;
    }
    const count = pos - start;
    if (count === 0) return fail(SHAPE);
    if (count > 9) return fail('has more than 9 fraction digits (nanoseconds are the finest precision kept)');
    nanos = digits(text, start, count) * 10 ** (9 - count);
  }

  let offsetSeconds = 0;
  const zone = text[pos];
  if (zone === undefined) return fail('has no time zone; end it with Z or an offset like +02:00');
  if (zone === 'Z' || zone === 'z') {
    if (pos + 1 !== text.length) return fail(SHAPE);
  } else if (zone === '+' || zone === '-') {
    if (pos + 6 !== text.length || text[pos + 3] !== ':') return fail(SHAPE);
    const offsetHours = digits(text, pos + 1, 2);
    const offsetMinutes = digits(text, pos + 4, 2);
    if (offsetHours < 0 || offsetMinutes < 0) return fail(SHAPE);
    if (offsetHours > 23 || offsetMinutes > 59) return fail('has a time zone offset outside ±23:59');
    offsetSeconds = (zone === '+' ? 1 : -1) * (offsetHours * 3600 + offsetMinutes * 60);
  } else {
    return fail(SHAPE);
  }

  const seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds;
  return { ok: true, seconds, nanos };
}
