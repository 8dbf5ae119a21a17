/**
 * The partial rules of masking: values that stay recognisable to a person reading the logs
 * while the secret part is hidden. Characters are Unicode code points, so a rule never splits
 * a surrogate pair (which would leave an invalid string for Loki).
 */

const WHITESPACE = /\s/;

/**
 * The first `keep` code points, then `replacement`. A value of at most `keep` code points is
 * replaced whole: keeping all of it would hide nothing.
 */
export function keepPrefix(value: string, keep: number, replacement: string): string {
  let units = 0;
  for (let kept = 0; kept < keep; kept++) {
    if (units >= value.length) return replacement;
    const code = value.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff && units + 1 < value.length ? 2 : 1;
  }
  return units >= value.length ? replacement : value.slice(0, units) + replacement;
}

/**
 * `jane.doe@example.com` → `j******e@example.com`: the first and last code point of the local
 * part and one `*` for each hidden one; a local part of one or two code points is all stars.
 * Anything that is not one `local@domain` without whitespace is replaced whole.
 */
export function maskEmail(value: string, replacement: string): string {
  const at = value.indexOf('@');
  if (at <= 0 || at === value.length - 1 || value.indexOf('@', at + 1) >= 0 || WHITESPACE.test(value)) return replacement;
  const local = Array.from(value.slice(0, at));
  const domain = value.slice(at);
  if (local.length <= 2) return '*'.repeat(local.length) + domain;
  return local[0]! + '*'.repeat(local.length - 2) + local[local.length - 1]! + domain;
}
