/**
 * What a name must end in to be judged a secret's name at all, checked before it is split into
 * words, looked up and cached: in a line of `name=value` pairs a client invents the names, and
 * judging each new one in full (words, phrases, the library's rules, the cache) cost 50–200 ms
 * per 250 kB line of distinct names.
 *
 * Every key rule matches a name by its end (key-names.ts): an operator's phrase is the name's
 * last words written together; a library rule's noun is its last word, or ends it glued
 * (`dbpassword`), or is followed by at most two qualifiers (`password_hash_hex`), which are
 * words of the library too. So a name whose words, lower-cased and written together without
 * its trailing numbers, end in none of those phrases and words is judged by no rule, in either
 * reading (with camelCase humps or without: they only split words, never change the letters).
 * The check reads the name backwards through a tree of those endings, written backwards, and
 * most names leave it at their first or second letter.
 */

interface Node {
  readonly next: Map<number, Node>;
  /** An ending stops here: the name may be judged by a rule. */
  ends: boolean;
}

/**
 * What a code unit lower-cases to: 1 only characters past ASCII, 2 some ASCII (`İ` is `i` and
 * a dot). A surrogate is half a letter past the plane, whose lower case is past ASCII too.
 */
const LOWER_KIND = new Uint8Array(0x10000);

function lowersToAscii(code: number): boolean {
  let kind = LOWER_KIND[code]!;
  if (kind === 0) {
    kind = /[\x00-\x7f]/.test(String.fromCharCode(code).toLowerCase()) ? 2 : 1;
    LOWER_KIND[code] = kind;
  }
  return kind === 2;
}

export class NameEnds {
  readonly #root: Node = { next: new Map(), ends: false };
  /** An ending past ASCII: the tree reads ASCII only, so every name may then be judged. */
  readonly #everyName: boolean;

  /** `endings`: words and phrases as key-names.ts stores them (lower-case, words joined). */
  constructor(endings: Iterable<string>) {
    let everyName = false;
    for (const ending of endings) {
      if (ending === '') continue;
      if (!/^[\x00-\x7f]*$/.test(ending)) everyName = true;
      let node = this.#root;
      for (let i = ending.length - 1; i >= 0; i--) {
        const code = ending.charCodeAt(i);
        let next = node.next.get(code);
        if (next === undefined) {
          next = { next: new Map(), ends: false };
          node.next.set(code, next);
        }
        node = next;
      }
      node.ends = true;
    }
    this.#everyName = everyName;
  }

  /**
   * Whether `read`, a name as key-names.ts reads it (readName), ends in one of the endings once
   * its words are lower-cased and joined and its trailing numbers dropped. False means no rule
   * can judge it; true that the rules must be asked.
   */
  mayEnd(read: string): boolean {
    if (this.#everyName) return true;
    let i = read.length - 1;
    // Trailing numbers and what separates them: no word of a name that the rules read.
    for (; i >= 0; i--) {
      const c = read.charCodeAt(i);
      if (c >= 0x80 || (c >= 97 && c <= 122) || (c >= 65 && c <= 90)) break;
    }
    let node = this.#root;
    for (; i >= 0; i--) {
      let c = read.charCodeAt(i);
      if (c >= 0x80) {
        // Lower-cased to letters past ASCII, it ends no ending here, nor any longer one.
        return lowersToAscii(c);
      }
      if (c >= 65 && c <= 90) c += 32;
      else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) continue;
      const next = node.next.get(c);
      if (next === undefined) return false;
      if (next.ends) return true;
      node = next;
    }
    return false;
  }
}
