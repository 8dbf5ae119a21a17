/**
 * The one place where OTLP meets LogStack's masking: the same per-key policies, key rules and
 * value patterns as `/v1/logs:ingest` and Loki's push API, behind the few calls the OTLP
 * mapping makes. When masking's internals change, this file is what is rewired.
 *
 * OTLP attribute names are namespaces joined by dots (`db.password`, `http.request.header.
 * authorization`): the engine reads a name by its words, dots included, so they are judged as
 * the same name is in `metadata` or a push line, an operator's `exempt_keys` included.
 */
import type { Config } from '../../config/schema.js';
import { maskByRule } from '../../masking/mask-value.js';
import { compilePolicies, type KeyRule, type MaskingPolicy } from '../../masking/policy.js';

export type { KeyRule };

/** An integer this long may be a card number sent as a number, as `maskScalar` judges. */
const MIN_CARD_DIGITS = 13;

export interface OtlpMasker {
  /** The key rule of an attribute or map key, or undefined when its value is kept. */
  ruleFor(key: string): KeyRule | undefined;
  /** What a value under a key rule becomes: strings by the rule, anything else fully. */
  byRule(value: string | null, rule: KeyRule): string;
  /** Free text (strings, key names) masked by the value patterns. */
  text(value: string): string;
  /**
   * A decimal integer, masked when it may be a card number. An intValue is exact (64 bits), so
   * its digits are checked as a card's, Luhn included, as a number in JSON text is.
   */
  integer(decimal: string): string;
  /**
   * A double, as a JSON number a client sent: a card number becomes a masked string, and one
   * past 2^53 is already rounded, so it is masked whole when it starts like a card.
   */
  double(value: number): number | string;
  /** A string body, as a Loki push line: a JSON object or array by key at any depth, else as text. */
  line(value: string): string;
}

function masker(policy: MaskingPolicy): OtlpMasker {
  return {
    ruleFor: (key) => policy.ruleFor(key),
    byRule: (value, rule) => {
      const masked = maskByRule(value, rule, policy);
      return typeof masked === 'string' ? masked : policy.replacement;
    },
    text: (value) => policy.maskText(value),
    integer: (decimal) => (decimal.replace('-', '').length < MIN_CARD_DIGITS ? decimal : policy.maskText(decimal)),
    double: (value) => policy.maskNumber(value),
    line: (value) => policy.maskText(value),
  };
}

/**
 * The masker of every API key, by key name. Throws like compilePolicies: CONFIG_INVALID for a
 * custom value pattern that does not compile.
 */
export function compileOtlpMaskers(config: Config): ReadonlyMap<string, OtlpMasker> {
  const maskers = new Map<string, OtlpMasker>();
  for (const [name, policy] of compilePolicies(config)) maskers.set(name, masker(policy));
  return maskers;
}
