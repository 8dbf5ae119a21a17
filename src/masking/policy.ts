/**
 * The masking policy of one API key, compiled once from `masking` and the key's `masking`
 * override so that a request only looks things up.
 *
 * Key rules, by a name's words (key-names.ts), the most specific phrase first:
 *   the key's own `extra_keys` and `partial_rules`
 *   > the key's `exempt_keys` (they lift everything below)
 *   > `masking.partial_rules` > `masking.baseline_keys`
 *   > the library's key rules that are enabled (rules.ts).
 * A partial rule says how a key is masked and also makes it masked: an operator who writes a
 * rule for a key expects that key covered, so forgetting to list it in baseline_keys must not
 * leak it. At one phrase length the order above decides; a longer phrase beats a shorter one
 * (`partial_rules: {access_token: …}` beats `baseline_keys: [token]` for `access_token`).
 *
 * Rules in force: the library's defaults, less `masking.disabled_rules` (and the legacy
 * `patterns.card_numbers|bearer_tokens|jwts: false`), plus `masking.enabled_rules`, then the
 * key's own `disabled_rules` and `enabled_rules` on top.
 */
import type { Config, MaskingOverrideConfig, PartialRuleConfig } from '../config/schema.js';
import { compileCustomPatterns } from './custom-patterns.js';
import { maskCardNumberValue } from './card-numbers.js';
import { maskJsonText, startsAsJson, type JsonJudge } from './json-text.js';
import { hasHumps, LIBRARY_ENDINGS, LIBRARY_TAILS, libraryKeyRule, mayBeName, nameWords, namesLiteralsToo, phraseOf, readName, readWords, trailingPhrases } from './key-names.js';
import { maskByRule } from './mask-value.js';
import { NameCache } from './name-cache.js';
import { NameEnds } from './name-ends.js';
import { enabledRules, LEGACY_PATTERN_RULES, type RuleId } from './rules.js';
import { maskNamedValues, type PairJudge } from './text-pairs.js';
import { compileValuePatterns, type AnchorScope, type TextMasker, type ValuePatterns } from './value-patterns.js';

export type MaskingConfig = Config['masking'];

export type KeyRule =
  | { readonly kind: 'full' }
  | { readonly kind: 'keep_prefix'; readonly keep: number }
  | { readonly kind: 'mask_email' }
  /** `Bearer ****`: an Authorization value keeps its scheme. */
  | { readonly kind: 'keep_scheme' }
  /** `sid=****; Path=/`: a Cookie value keeps its cookie names and attributes. */
  | { readonly kind: 'cookies' }
  /** Text is masked; a number, a boolean or null stays (`pass: 120` counts passed tests). */
  | { readonly kind: 'text' };

export interface MaskingPolicy {
  /** What a fully masked value becomes. */
  readonly replacement: string;
  /** The rules in force for this key. */
  readonly rules: ReadonlySet<RuleId>;
  /**
   * A text (a message, a line, a string value): a JSON object or array by key at any depth,
   * any other by the named values in it, then the value rules and the custom patterns.
   */
  maskText(text: string): string;
  /** A JSON number a client sent: a card number becomes a masked string (card-numbers.ts). */
  maskNumber(value: number): number | string;
  /** The rule of a key name, or undefined when its value is masked as any other. */
  ruleFor(key: string): KeyRule | undefined;
}

const FULL: KeyRule = Object.freeze({ kind: 'full' });
const MASK_EMAIL: KeyRule = Object.freeze({ kind: 'mask_email' });
const KEEP_SCHEME: KeyRule = Object.freeze({ kind: 'keep_scheme' });
const COOKIES: KeyRule = Object.freeze({ kind: 'cookies' });
const TEXT: KeyRule = Object.freeze({ kind: 'text' });

/** Names judged per policy: at most this many, of at most this many characters (about 1 MB). */
const MAX_CACHED_NAMES = 4096;
const MAX_CACHED_NAME_CHARS = 128;
/** Longer words end no name of two words that the library or an operator would write. */
const MAX_TAIL_CHARS = 24;

/** `mask_email` wins over `keep_prefix` when a rule has both; a rule with neither masks fully. */
function toKeyRule(rule: PartialRuleConfig): KeyRule {
  if (rule.mask_email === true) return MASK_EMAIL;
  if (rule.keep_prefix !== undefined && rule.keep_prefix > 0) return Object.freeze({ kind: 'keep_prefix', keep: rule.keep_prefix });
  return FULL;
}

function libraryRule(id: RuleId, words: readonly string[]): KeyRule {
  if (namesLiteralsToo(words)) return TEXT;
  if (id === 'key-authorization') return KEEP_SCHEME;
  if (id === 'key-cookie') return COOKIES;
  return FULL;
}

/** Each phrase of `keys` (key-names.ts) with `rule`, into `into`; keys without words are skipped. */
function addPhrases(into: Map<string, KeyRule>, keys: Iterable<string>, rule: (key: string) => KeyRule): void {
  for (const key of keys) {
    const phrase = phraseOf(key);
    if (phrase !== '') into.set(phrase, rule(key));
  }
}

/** The last words of the keys of two or more words: `key` for `api_key`. */
function tailsOf(keys: Iterable<string>): string[] {
  const tails: string[] = [];
  for (const key of keys) {
    const words = nameWords(key);
    if (words.length > 1) tails.push(words[words.length - 1]!);
  }
  return tails;
}

/** What is shared by every policy of one configuration: compiled once. */
interface Shared {
  readonly replacement: string;
  readonly custom: TextMasker;
  /** Value-rule maskers by the rules they were compiled for. */
  readonly valuePatterns: Map<string, ValuePatterns>;
}

class Policy implements MaskingPolicy {
  readonly replacement: string;
  readonly rules: ReadonlySet<RuleId>;
  readonly #own = new Map<string, KeyRule>();
  readonly #exempt = new Set<string>();
  readonly #global = new Map<string, KeyRule>();
  readonly #names = new NameCache<KeyRule | null>(MAX_CACHED_NAMES, MAX_CACHED_NAME_CHARS);
  /** The endings of every phrase and library word that may judge a name. */
  readonly #ends: NameEnds;
  /** Last words of names of two words and more, after which a name in text may be two words. */
  readonly #tails: ReadonlySet<string>;
  readonly #valuePatterns: ValuePatterns;
  /** The text being masked, while a JSON text is walked. */
  #scope: AnchorScope | undefined;
  readonly #custom: TextMasker;
  readonly #pairs: PairJudge<KeyRule>;
  readonly #json: JsonJudge<KeyRule>;

  constructor(masking: MaskingConfig, override: MaskingOverrideConfig | undefined, shared: Shared) {
    this.replacement = shared.replacement;
    addPhrases(this.#global, masking.baseline_keys, () => FULL);
    addPhrases(this.#global, Object.keys(masking.partial_rules), (key) => toKeyRule(masking.partial_rules[key]!));
    const legacyOff = (Object.keys(LEGACY_PATTERN_RULES) as Array<keyof typeof LEGACY_PATTERN_RULES>).filter((name) => !masking.patterns[name]).map((name) => LEGACY_PATTERN_RULES[name]);
    const layers = [{ disabled: [...legacyOff, ...masking.disabled_rules], enabled: masking.enabled_rules }];
    if (override !== undefined) {
      for (const key of override.exempt_keys) {
        const phrase = phraseOf(key);
        if (phrase !== '') this.#exempt.add(phrase);
      }
      addPhrases(this.#own, override.extra_keys, () => FULL);
      addPhrases(this.#own, Object.keys(override.partial_rules), (key) => toKeyRule(override.partial_rules[key]!));
      layers.push({ disabled: override.disabled_rules, enabled: override.enabled_rules });
    }
    this.rules = enabledRules(layers);
    this.#ends = new NameEnds([...this.#own.keys(), ...this.#global.keys(), ...LIBRARY_ENDINGS]);
    const operatorKeys = [...masking.baseline_keys, ...Object.keys(masking.partial_rules), ...(override?.extra_keys ?? []), ...Object.keys(override?.partial_rules ?? {})];
    this.#tails = new Set([...LIBRARY_TAILS, ...tailsOf(operatorKeys)]);
    const signature = [...this.rules].sort().join(' ');
    let patterns = shared.valuePatterns.get(signature);
    if (patterns === undefined) {
      patterns = compileValuePatterns(this.rules, shared.replacement);
      shared.valuePatterns.set(signature, patterns);
    }
    this.#valuePatterns = patterns;
    this.#custom = shared.custom;
    this.#pairs = {
      // What precedes a `:` or `=` in text is often a time, a number or an address: those are
      // passed over before they are looked up, and do not fill the cache.
      ruleFor: (name) => (mayBeName(name) ? this.ruleFor(name) : undefined),
      maskValue: (value, rule) => maskByRule(value, rule, this),
      isCookie: (rule) => rule === COOKIES,
      endsLongerName: (name) => name.length <= MAX_TAIL_CHARS && (this.#tails.has(name) || this.#tails.has(name.toLowerCase())),
    };
    this.#json = {
      ruleFor: (key) => this.ruleFor(key),
      maskByRule: (value, rule) => maskByRule(value, rule, this),
      maskText: (text) => this.#maskWithin(text, this.#scope),
      maskNumber: (digits) => this.#maskPlainText(digits, undefined),
    };
  }

  maskText(text: string): string {
    // Most texts are not JSON: they take the short way.
    return startsAsJson(text) ? this.#maskWithin(text, undefined) : this.#maskPlainText(text, undefined);
  }

  /**
   * `text`, part of the text of `scope` (when it is part of one): a JSON line's strings are
   * masked one by one, but an anchor (an AWS key id) anywhere in the line counts for all of them.
   */
  #maskWithin(text: string, scope: AnchorScope | undefined): string {
    if (!startsAsJson(text)) return this.#maskPlainText(text, scope);
    const outer = this.#scope;
    this.#scope = scope ?? { text };
    try {
      return maskJsonText(text, this.#json) ?? this.#maskPlainText(text, this.#scope);
    } finally {
      this.#scope = outer;
    }
  }

  maskNumber(value: number): number | string {
    if (!this.rules.has('card-number')) return value;
    return maskCardNumberValue(value, this.replacement, (digits) => this.#maskPlainText(digits, undefined));
  }

  ruleFor(key: string): KeyRule | undefined {
    const cached = this.#names.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const read = readName(key);
    // Most names end in no phrase or word of the rules: passed over at once, and not cached,
    // where a client's invented names would push out the ones that are.
    if (!this.#ends.mayEnd(read)) return undefined;
    const rule = this.#judge(read);
    this.#names.set(key, rule ?? null);
    return rule;
  }

  /**
   * The value rules first: they see whole tokens (a card's four groups, `Bearer: …`), where a
   * named value's end (a space) could cut one; then the named values in what is left.
   */
  #maskPlainText(text: string, scope: AnchorScope | undefined): string {
    return this.#custom(maskNamedValues(this.#valuePatterns.mask(text, scope), this.#pairs));
  }

  /** The rule of a name read by readName, in both readings. */
  #judge(read: string): KeyRule | undefined {
    const words = readWords(read);
    const cased = this.#judgeWords(words);
    if (cased !== null || !hasHumps(read)) return cased ?? undefined;
    // `pAsSwOrD`, `aUThoRizATIoN`: names are matched in any case, so also without camelCase humps.
    const uncased = readWords(read, false);
    return uncased.join(' ') === words.join(' ') ? undefined : (this.#judgeWords(uncased) ?? undefined);
  }

  /** The rule of `words`; undefined when an exempt phrase lifts it, null when nothing names it. */
  #judgeWords(words: readonly string[]): KeyRule | undefined | null {
    if (words.length === 0) return null;
    for (const phrase of trailingPhrases(words)) {
      const own = this.#own.get(phrase);
      if (own !== undefined) return own;
      if (this.#exempt.has(phrase)) return undefined;
      const global = this.#global.get(phrase);
      if (global !== undefined) return global;
    }
    const library = libraryKeyRule(words);
    return library !== undefined && this.rules.has(library) ? libraryRule(library, words) : null;
  }
}

/**
 * The policy of a key with `override` (none: the `masking` section alone). Throws
 * CONFIG_INVALID for a custom pattern that does not compile or matches the empty string.
 */
export function compileMaskingPolicy(masking: MaskingConfig, override?: MaskingOverrideConfig): MaskingPolicy {
  return new Policy(masking, override, { replacement: masking.replacement, custom: compileCustomPatterns(masking.patterns.custom), valuePatterns: new Map() });
}

/**
 * The masking policy of every API key, by key name; keys with the same override share one.
 * Throws CONFIG_INVALID for a custom pattern that does not compile or matches the empty string,
 * and TypeError when two API keys share a name but not a masking override.
 */
export function compilePolicies(config: Config): Map<string, MaskingPolicy> {
  const shared: Shared = { replacement: config.masking.replacement, custom: compileCustomPatterns(config.masking.patterns.custom), valuePatterns: new Map() };
  const byName = new Map<string, MaskingPolicy>();
  const byOverride = new Map<string, MaskingPolicy>();
  const overrides = new Map<string, string>();
  for (const key of Object.values(config.security.api_keys)) {
    // Requests name their key, not their token: two tokens of one name must mask alike.
    const override = JSON.stringify(key.masking ?? null);
    const seen = overrides.get(key.name);
    if (seen !== undefined && seen !== override) {
      throw new TypeError(`API keys named ${key.name} have different masking overrides; names must identify one policy`);
    }
    if (seen !== undefined) continue;
    overrides.set(key.name, override);
    let policy = byOverride.get(override);
    if (policy === undefined) {
      policy = new Policy(config.masking, key.masking, shared);
      byOverride.set(override, policy);
    }
    byName.set(key.name, policy);
  }
  return byName;
}
