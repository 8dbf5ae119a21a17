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

/** `Bearer abc` → `Bearer ****`: the scheme of an Authorization value and the space after it. */
const SCHEME = /^[ \t]*[A-Za-z][A-Za-z0-9._~+/-]*[ \t]+(?=[^ \t])/;

/**
 * An Authorization value with its scheme kept (`Bearer ****`, `Basic ****`, `Digest ****`); a
 * value without a scheme and credentials after it is replaced whole.
 */
export function keepScheme(value: string, replacement: string): string {
  const scheme = SCHEME.exec(value);
  return scheme === null ? replacement : scheme[0] + replacement;
}

/** Attributes of Set-Cookie (RFC 6265 and its successors): their values are not the cookie's. */
const COOKIE_ATTRIBUTES = new Set(['path', 'domain', 'expires', 'max-age', 'samesite', 'secure', 'httponly', 'partitioned', 'priority', 'version', 'comment']);
/**
 * Where a Cookie or Set-Cookie value splits into `name=value` parts: at `;`, and at a `,` that
 * starts another cookie (several Set-Cookie headers joined by a logger), not the `,` of a date.
 */
const COOKIE_PART = /(;|,(?=[ \t]*[^ \t=;,]+=))/;

/**
 * A Cookie or Set-Cookie value with every cookie's value replaced and its name kept, attributes
 * (`Path=/`, `Expires=…`, `HttpOnly`) kept whole: `sid=****; theme=****`. A part without `=` that
 * is not an attribute is a bare value, replaced.
 */
export function maskCookies(value: string, replacement: string): string {
  let changed = false;
  const parts = value.split(COOKIE_PART).map((part, i) => {
    // split() with a capture group puts each separator at an odd index.
    if (i % 2 === 1) return part;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (COOKIE_ATTRIBUTES.has(name) || (eq < 0 && name === '')) return part;
    changed = true;
    return eq < 0 ? part.slice(0, part.length - part.trimStart().length) + replacement : part.slice(0, eq + 1) + (eq === part.length - 1 ? '' : replacement);
  });
  return changed ? parts.join('') : value;
}
