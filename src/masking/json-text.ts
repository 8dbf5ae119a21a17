/**
 * Masking of a text that is a JSON object or array (a pino, winston or Docker JSON log line, a
 * `message` that is a serialised object): by key at any depth, as `metadata` is, with the text
 * rules over every other string and over long integers (cards sent unquoted), and the value of
 * an object that names it (`{"name": "DB_PASSWORD", "value": "…"}`) by that name.
 *
 * The text is rewritten in place: only the masked values are replaced, so key order, duplicate
 * keys, spacing and numbers beyond 2^53 stay as sent, and a text with nothing to mask stays the
 * same string. Nesting has no limit: the walk keeps its own stack (one entry per open container,
 * so memory is bounded by the text's length), and a line nested 10,000 deep is masked by key like
 * any other. A text that only looks like JSON is not this module's: the caller masks it as text.
 */
import { NAME_MEMBERS, VALUE_MEMBERS } from './mask-value.js';

export interface JsonJudge<Rule> {
  /** The key rule of a member name, or undefined when its value is masked as any other. */
  ruleFor(key: string): Rule | undefined;
  /**
   * What the value of a member of `rule` becomes: a string, or `value` itself when kept.
   * `value` is undefined for an object or array.
   */
  maskByRule(value: string | number | boolean | null | undefined, rule: Rule): unknown;
  /** A string that no key rule covers. */
  maskText(text: string): string;
  /** An integer token of at least MIN_CARD_DIGITS digits, as text. */
  maskNumber(digits: string): string;
}

/** An integer this long may be a card number sent unquoted. */
const MIN_CARD_DIGITS = 13;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const HEX4 = /^[0-9a-fA-F]{4}$/;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Thrown inside the walk when the text is not JSON. */
const NOT_JSON = Symbol('not JSON');

/** A value under a key rule that is an object or array: only checked, then replaced whole. */
interface Covered<Rule> {
  readonly start: number;
  readonly rule: Rule;
  /** Depth of the stack when it opened. */
  readonly depth: number;
}

class JsonTextMasker<Rule> {
  readonly #s: string;
  readonly #judge: JsonJudge<Rule>;
  #i = 0;
  #out = '';
  #copied = 0;
  /**
   * The open containers, innermost last: 1 for an object, 0 for an array; `#depth` of them. Bytes
   * that grow by doubling, not a JS array: a text of 100,000 `[` opens 100,000, and an array of
   * more than 16,000 elements lives in V8's large-object space, where each element cost ten times
   * as much (the cost of masking stepped up with the depth).
   */
  #kinds = new Uint8Array(64);
  #depth = 0;
  /**
   * By depth, the rule the `name` member of an open object gave its `value` member
   * (`{"name": "DB_PASSWORD", "value": "…"}`), for the objects that have one; a name after the
   * value is not looked back for.
   */
  readonly #named = new Map<number, Rule | undefined>();
  /** Whether the member being read is a `name` member, whose string value names the `value`. */
  #namesValue = false;
  #covered: Covered<Rule> | undefined;

  constructor(text: string, judge: JsonJudge<Rule>) {
    this.#s = text;
    this.#judge = judge;
  }

  run(): string {
    const s = this.#s;
    this.#space();
    let rule: Rule | undefined;
    // One loop over values: after each, the separators up to the next value (or key) are read.
    for (;;) {
      this.#value(rule);
      rule = undefined;
      for (;;) {
        this.#space();
        if (this.#depth === 0) {
          if (this.#i !== s.length) throw NOT_JSON;
          return this.#copied === 0 ? s : this.#out + s.slice(this.#copied);
        }
        const inObject = this.#kinds[this.#depth - 1] === 1;
        const c = s.charCodeAt(this.#i++);
        if (c === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          this.#close();
          continue;
        }
        if (c !== 0x2c) throw NOT_JSON;
        this.#space();
        if (inObject) rule = this.#member();
        break;
      }
    }
  }

  #space(): void {
    while (isSpace(this.#s.charCodeAt(this.#i))) this.#i++;
  }

  #splice(start: number, end: number, text: string): void {
    this.#out += this.#s.slice(this.#copied, start) + text;
    this.#copied = end;
  }

  /** Reads `"key":` and returns its rule (none inside a covered value). */
  #member(): Rule | undefined {
    const start = this.#i;
    if (this.#s.charCodeAt(start) !== QUOTE) throw NOT_JSON;
    const escaped = this.#string();
    let rule: Rule | undefined;
    if (this.#covered === undefined) {
      const key = this.#decoded(start, escaped);
      rule = this.#judge.ruleFor(key);
      this.#namesValue = NAME_MEMBERS.has(key);
      if (rule === undefined && VALUE_MEMBERS.has(key) && this.#named.size > 0) rule = this.#named.get(this.#depth - 1);
    }
    this.#space();
    if (this.#s.charCodeAt(this.#i++) !== 0x3a) throw NOT_JSON;
    this.#space();
    return rule;
  }

  /** Opens a container at `#i`; an empty one is closed at once. Returns whether it stays open. */
  #open(isObject: boolean): boolean {
    this.#i++;
    if (this.#depth === this.#kinds.length) {
      const grown = new Uint8Array(2 * this.#depth);
      grown.set(this.#kinds);
      this.#kinds = grown;
    }
    this.#kinds[this.#depth++] = isObject ? 1 : 0;
    this.#namesValue = false;
    this.#space();
    if (this.#s.charCodeAt(this.#i) === (isObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
      this.#i++;
      this.#close();
      return false;
    }
    return true;
  }

  #close(): void {
    this.#depth--;
    if (this.#named.size > 0) this.#named.delete(this.#depth);
    const covered = this.#covered;
    if (covered !== undefined && this.#depth === covered.depth) {
      this.#covered = undefined;
      this.#splice(covered.start, this.#i, JSON.stringify(this.#judge.maskByRule(undefined, covered.rule)));
    }
  }

  /**
   * Reads the value at `#i`, masking a scalar at once. A container is opened and its first key
   * (object) read, leaving `#i` at its first value; the loop in run() goes on from there.
   */
  #value(rule: Rule | undefined): void {
    for (;;) {
      const s = this.#s;
      const start = this.#i;
      const c = s.charCodeAt(start);
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (rule !== undefined && this.#covered === undefined) this.#covered = { start, rule, depth: this.#depth };
        if (!this.#open(c === OPEN_OBJECT)) return;
        rule = c === OPEN_OBJECT ? this.#member() : undefined;
        continue;
      }
      this.#scalar(start, rule);
      return;
    }
  }

  #scalar(start: number, rule: Rule | undefined): void {
    const s = this.#s;
    const namesValue = this.#namesValue;
    this.#namesValue = false;
    const c = s.charCodeAt(start);
    const quiet = this.#covered !== undefined;
    if (c === QUOTE) {
      const escaped = this.#string();
      if (quiet) return;
      const text = this.#decoded(start, escaped);
      if (namesValue) this.#named.set(this.#depth - 1, this.#judge.ruleFor(text));
      const masked = rule === undefined ? this.#judge.maskText(text) : this.#judge.maskByRule(text, rule);
      if (masked !== text) this.#splice(start, this.#i, JSON.stringify(masked));
      return;
    }
    let literal: boolean | null | undefined;
    if (s.startsWith('true', start)) literal = true;
    else if (s.startsWith('false', start)) literal = false;
    else if (s.startsWith('null', start)) literal = null;
    if (literal !== undefined) {
      this.#i += literal === false ? 5 : 4;
      if (rule !== undefined && !quiet) {
        const masked = this.#judge.maskByRule(literal, rule);
        if (masked !== literal) this.#splice(start, this.#i, JSON.stringify(masked));
      }
      return;
    }
    const integer = this.#number();
    if (quiet) return;
    const token = s.slice(start, this.#i);
    let masked: unknown = token;
    if (rule !== undefined) masked = this.#judge.maskByRule(Number(token), rule);
    else if (integer && this.#i - start >= MIN_CARD_DIGITS) masked = this.#judge.maskNumber(token);
    // A number that held a card number becomes the masked string, as in `metadata`.
    if (masked !== token && typeof masked === 'string') this.#splice(start, this.#i, JSON.stringify(masked));
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
      // A control character, or the end of the text.
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

  /** The string token at [start, #i), decoded. */
  #decoded(start: number, escaped: boolean): string {
    return escaped ? (JSON.parse(this.#s.slice(start, this.#i)) as string) : this.#s.slice(start + 1, this.#i - 1);
  }

  /** Moves past a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; whether it is an integer. */
  #number(): boolean {
    const s = this.#s;
    let i = this.#i;
    let integer = true;
    if (s.charCodeAt(i) === 0x2d) i++;
    if (s.charCodeAt(i) === 0x30) i++;
    else if (isDigit(s.charCodeAt(i))) while (isDigit(s.charCodeAt(i))) i++;
    else throw NOT_JSON;
    if (s.charCodeAt(i) === 0x2e) {
      integer = false;
      if (!isDigit(s.charCodeAt(++i))) throw NOT_JSON;
      while (isDigit(s.charCodeAt(i))) i++;
    }
    if (s.charCodeAt(i) === 0x65 || s.charCodeAt(i) === 0x45) {
      integer = false;
      i++;
      if (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d) i++;
      if (!isDigit(s.charCodeAt(i))) throw NOT_JSON;
      while (isDigit(s.charCodeAt(i))) i++;
    }
    this.#i = i;
    return integer;
  }
}

/** Whether `text` starts (after JSON whitespace) with `{` or `[`: what maskJsonText may take. */
export function startsAsJson(text: string): boolean {
  let i = 0;
  while (isSpace(text.charCodeAt(i))) i++;
  const c = text.charCodeAt(i);
  return c === OPEN_OBJECT || c === OPEN_ARRAY;
}

/** `text` masked as JSON when it is a JSON object or array; null when it is not one. */
export function maskJsonText<Rule>(text: string, judge: JsonJudge<Rule>): string | null {
  if (!startsAsJson(text)) return null;
  try {
    return new JsonTextMasker(text, judge).run();
  } catch (err) {
    if (err === NOT_JSON) return null;
    throw err;
  }
}
