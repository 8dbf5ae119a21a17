/**
 * The labels of a pushed stream: read from the text Loki clients send (`{app="shop", env="prod"}`),
 * filtered by the operator's allow and deny lists; Loki's limits on them are checked in
 * src/loki/limits.ts, so that no stream is accepted that Loki would refuse later.
 *
 * The text is read as Loki reads it (LogQL's `syntax.ParseLabels`): equality matchers only,
 * values as Go string literals — double-quoted with Go's escapes (`\n`, `\"`, `\x41`, `\u00e9`,
 * `\101`, …) or back-quoted raw — and whitespace anywhere between tokens.
 */
import type { Config } from '../../config/schema.js';
import type { LabelPairs } from '../../loki/entry.js';

export type LokiPushConfig = Config['loki_push'];

export type LabelTextParse = { readonly ok: true; readonly pairs: LabelPairs } | { readonly ok: false; readonly reason: string };

/** A name runs up to the next delimiter; whether it is a valid name is checked with the limits. */
const NAME_RUN = /[^\s=!~{},"`]+/y;
const SPACE = /[ \t\r\n]*/y;
/** A double-quoted value without escapes: the common case, taken without decoding. */
const PLAIN_VALUE = /"([^"\\\n]*)"/y;
const HEX = /^[0-9a-fA-F]+$/;
const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 };

class LabelTextError extends Error {}

/** The index of the quote that ends the double-quoted string at `start`, or where reading it must stop. */
function quotedEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x0a) return i;
    i += c === 0x5c ? 2 : 1;
  }
  return text.length;
}

/**
 * A double-quoted Go string starting at `start`: its value and the index after it. Escapes
 * `\x` and octal give bytes, not characters, so the value is assembled as UTF-8 bytes, in one
 * buffer: a character is at most 3 bytes of UTF-8, and an escape never gives more bytes than
 * it has characters.
 */
function goString(text: string, start: number): [string, number] {
  PLAIN_VALUE.lastIndex = start;
  const plain = PLAIN_VALUE.exec(text);
  if (plain !== null) return [plain[1]!, PLAIN_VALUE.lastIndex];

  const out = Buffer.allocUnsafe(3 * (quotedEnd(text, start) - start));
  let length = 0;
  let run = start + 1;
  let i = run;
  const hex = (from: number, digits: number): number => {
    const part = text.slice(from, from + digits);
    if (part.length !== digits || !HEX.test(part)) throw new LabelTextError(`a bad escape at character ${from}`);
    return Number.parseInt(part, 16);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      length += out.write(text.slice(run, i), length, 'utf8');
      return [out.toString('utf8', 0, length), i + 1];
    }
    if (c === '\n') break;
    if (c !== '\\') {
      i++;
      continue;
    }
    length += out.write(text.slice(run, i), length, 'utf8');
    const e = text[i + 1] ?? '';
    let width = 2;
    if (SIMPLE_ESCAPES[e] !== undefined) {
      out[length++] = SIMPLE_ESCAPES[e];
    } else if (e === 'x') {
      out[length++] = hex(i + 2, 2);
      width = 4;
    } else if (e >= '0' && e <= '7') {
      const octal = text.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(octal) || Number.parseInt(octal, 8) > 255) throw new LabelTextError(`a bad octal escape at character ${i}`);
      out[length++] = Number.parseInt(octal, 8);
      width = 4;
    } else if (e === 'u' || e === 'U') {
      const digits = e === 'u' ? 4 : 8;
      const code = hex(i + 2, digits);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new LabelTextError(`an escape of an invalid code point at character ${i}`);
      length += out.write(String.fromCodePoint(code), length, 'utf8');
      width = 2 + digits;
    } else {
      throw new LabelTextError(`an unknown escape at character ${i}`);
    }
    i += width;
    run = i;
  }
  throw new LabelTextError(`a value that does not end (from character ${start})`);
}

/** A back-quoted raw Go string: no escapes; carriage returns are dropped, as Go does. */
function rawString(text: string, start: number): [string, number] {
  const end = text.indexOf('`', start + 1);
  if (end < 0) throw new LabelTextError(`a value that does not end (from character ${start})`);
  return [text.slice(start + 1, end).replace(/\r/g, ''), end + 1];
}

function skipSpace(text: string, at: number): number {
  SPACE.lastIndex = at;
  SPACE.exec(text);
  return SPACE.lastIndex;
}

/** Characters a label may take in the text besides its name and value: `, `, `=`, the quotes, some spaces. */
const LABEL_SYNTAX_CHARACTERS = 16;
/** Characters of the text a byte of a value may take: `\x41`, `\101`. */
const CHARACTERS_PER_VALUE_BYTE = 4;

/**
 * The longest label text that could hold labels Loki accepts: `max_label_names_per_series`
 * labels (and `service_name`, which Loki does not count), each of the longest name and the
 * longest value written in escapes, with room for the syntax. A longer text is refused before
 * it is read (labels the deny list drops count too): 147,714 characters by default.
 */
export function maxLabelTextLength(config: LokiPushConfig): number {
  const label = config.max_label_name_length + CHARACTERS_PER_VALUE_BYTE * config.max_label_value_length + LABEL_SYNTAX_CHARACTERS;
  return (config.max_label_names_per_series + 1) * label + 2;
}

/**
 * Reads `{name="value", ...}`, refused unread when longer than `maxLength` characters; the
 * reason of a failure never quotes a value.
 */
export function parseLabelText(text: string, maxLength = Infinity): LabelTextParse {
  if (text.length > maxLength) {
    return {
      ok: false,
      reason: `has labels of ${text.length} characters; at most ${maxLength} can hold labels Loki accepts (loki_push.max_label_names_per_series, max_label_name_length, max_label_value_length)`,
    };
  }
  const pairs: Array<readonly [string, string]> = [];
  try {
    let i = skipSpace(text, 0);
    if (text[i] !== '{') throw new LabelTextError('it does not start with {');
    i = skipSpace(text, i + 1);
    if (text[i] !== '}') {
      for (;;) {
        NAME_RUN.lastIndex = i;
        const name = NAME_RUN.exec(text)?.[0];
        if (name === undefined) throw new LabelTextError(`a label name is missing at character ${i}`);
        i = skipSpace(text, NAME_RUN.lastIndex);
        if (text[i] !== '=' || text[i + 1] === '~') throw new LabelTextError(`label ${pairs.length} is not name="value" (only = is allowed)`);
        i = skipSpace(text, i + 1);
        let value: string;
        if (text[i] === '"') [value, i] = goString(text, i);
        else if (text[i] === '`') [value, i] = rawString(text, i);
        else throw new LabelTextError(`the value of label ${pairs.length} is not a quoted string`);
        pairs.push([name, value]);
        i = skipSpace(text, i);
        if (text[i] === '}') break;
        if (text[i] !== ',') throw new LabelTextError(`a , or } is missing at character ${i}`);
        i = skipSpace(text, i + 1);
      }
    }
    if (skipSpace(text, i + 1) !== text.length) throw new LabelTextError('there is text after the closing }');
  } catch (err) {
    if (err instanceof LabelTextError) return { ok: false, reason: `the labels are not a label set like {app="shop"}: ${err.message}` };
    throw err;
  }
  return { ok: true, pairs };
}

/** Which client labels are kept: the allowlist (when not empty), less the denylist. */
export function createLabelFilter(config: LokiPushConfig): (name: string) => boolean {
  const allow = config.label_allowlist.length === 0 ? null : new Set(config.label_allowlist);
  const deny = new Set(config.label_denylist);
  return (name) => (allow === null || allow.has(name)) && !deny.has(name);
}

