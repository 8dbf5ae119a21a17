/**
 * Masking of a line of text (a Loki push line): when it is a JSON object (pino, winston, Docker
 * JSON logs), like `metadata` — by key at any depth, value patterns over every other string and
 * over long integers; any other line by the value patterns.
 *
 * A JSON line is rewritten in place: only the masked values are replaced, so key order,
 * duplicate keys, spacing and numbers beyond 2^53 reach Loki as sent, and a line with nothing to
 * mask stays byte for byte the same. A line that only looks like JSON (or nests deeper than
 * MAX_DEPTH) is masked as text.
 */
import { maskByRule } from './mask-value.js';
import type { KeyRule, MaskingPolicy } from './policy.js';

/** Deeper JSON is masked as text: it bounds the recursion, and no logger nests this deep. */
const MAX_DEPTH = 256;
/** An integer this long may be a card number sent unquoted, as `maskNumber` of mask-value.ts judges. */
const MIN_CARD_DIGITS = 13;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const LEADING_SPACE = /^[ \t\n\r]*\{/;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

/** Thrown inside the rewriter when the line is not JSON; the line is then masked as text. */
const NOT_JSON = Symbol('not JSON');

class JsonLineMasker {
  readonly #s: string;
  readonly #policy: MaskingPolicy;
  #i = 0;
  #out = '';
  #copied = 0;
  /** > 0 inside a value a key rule replaces whole: it is only checked, not masked. */
  #quiet = 0;

  constructor(line: string, policy: MaskingPolicy) {
    this.#s = line;
    this.#policy = policy;
  }

  run(): string {
    this.#space();
    if (this.#s.charCodeAt(this.#i) !== 0x7b) throw NOT_JSON;
    this.#object(1);
    this.#space();
    if (this.#i !== this.#s.length) throw NOT_JSON;
    return this.#copied === 0 ? this.#s : this.#out + this.#s.slice(this.#copied);
  }

  // The scan is by character code: a regular expression call per token costs more than the token.
  #space(): void {
    while (isSpace(this.#s.charCodeAt(this.#i))) this.#i++;
  }

  #splice(start: number, end: number, text: string): void {
    this.#out += this.#s.slice(this.#copied, start) + text;
    this.#copied = end;
  }

  /** Moves past a string token; whether it holds escapes (and so must be decoded). */
  #string(): boolean {
    const s = this.#s;
    let i = this.#i + 1;
    let escaped = false;
    for (;;) {
      let c = s.charCodeAt(i);
      while (c !== QUOTE && c !== BACKSLASH && c >= 0x20) c = s.charCodeAt(++i);
      if (c === QUOTE) {
        this.#i = i + 1;
        return escaped;
      }
      // A control character, or the end of the line.
      if (c !== BACKSLASH) throw NOT_JSON;
      escaped = true;
      const e = s[i + 1];
      if (e === 'u') {
        if (!HEX4.test(s.slice(i + 2, i + 6))) throw NOT_JSON;
        i += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
        i += 2;
      } else {
        throw NOT_JSON;
      }
    }
  }

  /** The string token at [start, this.#i), decoded. */
  #decoded(start: number, escaped: boolean): string {
    return escaped ? (JSON.parse(this.#s.slice(start, this.#i)) as string) : this.#s.slice(start + 1, this.#i - 1);
  }

  #value(rule: KeyRule | undefined, depth: number): void {
    const s = this.#s;
    const start = this.#i;
    const c = s.charCodeAt(start);
    if (rule !== undefined) {
      // Rules are looked up outside quiet values only, so this splice is never undone.
      let value: string | null = null;
      if (c === QUOTE) {
        value = this.#decoded(start, this.#string());
      } else {
        this.#quiet++;
        this.#value(undefined, depth);
        this.#quiet--;
      }
      this.#splice(start, this.#i, JSON.stringify(maskByRule(value, rule, this.#policy)));
      return;
    }
    if (c === QUOTE) {
      const escaped = this.#string();
      if (this.#quiet > 0) return;
      const text = this.#decoded(start, escaped);
      const masked = this.#policy.maskText(text);
      if (masked !== text) this.#splice(start, this.#i, JSON.stringify(masked));
    } else if (c === 0x7b) {
      this.#object(depth + 1);
    } else if (c === 0x5b) {
      this.#array(depth + 1);
    } else if (s.startsWith('true', start) || s.startsWith('null', start)) {
      this.#i += 4;
    } else if (s.startsWith('false', start)) {
      this.#i += 5;
    } else {
      this.#number();
      if (this.#quiet > 0 || this.#i - start < MIN_CARD_DIGITS) return;
      const token = s.slice(start, this.#i);
      const masked = this.#policy.maskText(token);
      // A number that held a card number becomes the masked string, as in `metadata`.
      if (masked !== token) this.#splice(start, this.#i, JSON.stringify(masked));
    }
  }

  /** Moves past a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
  #number(): void {
    const s = this.#s;
    let i = this.#i;
    if (s.charCodeAt(i) === 0x2d) i++;
    if (s.charCodeAt(i) === DIGIT_0) i++;
    else if (isDigit(s.charCodeAt(i))) while (isDigit(s.charCodeAt(i))) i++;
    else throw NOT_JSON;
    if (s.charCodeAt(i) === 0x2e) {
      if (!isDigit(s.charCodeAt(++i))) throw NOT_JSON;
      while (isDigit(s.charCodeAt(i))) i++;
    }
    if (s.charCodeAt(i) === 0x65 || s.charCodeAt(i) === 0x45) {
      i++;
      if (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d) i++;
      if (!isDigit(s.charCodeAt(i))) throw NOT_JSON;
      while (isDigit(s.charCodeAt(i))) i++;
    }
    this.#i = i;
  }

  #object(depth: number): void {
    if (depth > MAX_DEPTH) throw NOT_JSON;
    const s = this.#s;
    this.#i++;
    this.#space();
    if (s.charCodeAt(this.#i) === 0x7d) {
      this.#i++;
      return;
    }
    for (;;) {
      const keyStart = this.#i;
      if (s.charCodeAt(keyStart) !== QUOTE) throw NOT_JSON;
      const escaped = this.#string();
      const rule = this.#quiet > 0 ? undefined : this.#policy.ruleFor(this.#decoded(keyStart, escaped));
      this.#space();
      if (s.charCodeAt(this.#i) !== 0x3a) throw NOT_JSON;
      this.#i++;
      this.#space();
      this.#value(rule, depth);
      this.#space();
      const next = s.charCodeAt(this.#i++);
      if (next === 0x7d) return;
      if (next !== 0x2c) throw NOT_JSON;
      this.#space();
    }
  }

  #array(depth: number): void {
    if (depth > MAX_DEPTH) throw NOT_JSON;
    const s = this.#s;
    this.#i++;
    this.#space();
    if (s.charCodeAt(this.#i) === 0x5d) {
      this.#i++;
      return;
    }
    for (;;) {
      this.#value(undefined, depth);
      this.#space();
      const next = s.charCodeAt(this.#i++);
      if (next === 0x5d) return;
      if (next !== 0x2c) throw NOT_JSON;
      this.#space();
    }
  }
}

/** `line` masked: as a JSON object when it is one, else as text. */
export function maskLine(line: string, policy: MaskingPolicy): string {
  if (!LEADING_SPACE.test(line)) return policy.maskText(line);
  try {
    return new JsonLineMasker(line, policy).run();
  } catch (err) {
    if (err === NOT_JSON) return policy.maskText(line);
    throw err;
  }
}
