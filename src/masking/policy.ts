/**
 * The masking policy of one API key: which metadata keys are masked and how, compiled once from
 * `masking` and the key's `masking` override so that a request only looks keys up.
 *
 * The masked keys of a token are
 *   (baseline_keys ∪ keys of masking.partial_rules) − exempt_keys
 *   ∪ extra_keys ∪ keys of the token's own partial_rules,
 * all compared in lower case. A partial rule says how a key is masked and also makes it masked:
 * an operator who writes a rule for a key expects that key covered, so forgetting to list it in
 * baseline_keys must not leak it. `exempt_keys` lifts only the global rules; what the token's own
 * override asks to mask stays masked. A token's partial rule replaces the global one for its key.
 */
import type { Config, MaskingOverrideConfig, PartialRuleConfig } from '../config/schema.js';
import { compileValuePatterns, type TextMasker } from './value-patterns.js';

export type MaskingConfig = Config['masking'];

export type KeyRule =
  | { readonly kind: 'full' }
  | { readonly kind: 'keep_prefix'; readonly keep: number }
  | { readonly kind: 'mask_email' };

export interface MaskingPolicy {
  /** What a fully masked value becomes. */
  readonly replacement: string;
  /** The value patterns, applied to `message` and to every string value not masked by key. */
  readonly maskText: TextMasker;
  /** The rule of a metadata key (any case), or undefined when its value is kept. */
  ruleFor(key: string): KeyRule | undefined;
}

const FULL: KeyRule = Object.freeze({ kind: 'full' });
const MASK_EMAIL: KeyRule = Object.freeze({ kind: 'mask_email' });

/** `mask_email` wins over `keep_prefix` when a rule has both; a rule with neither masks fully. */
function toKeyRule(rule: PartialRuleConfig): KeyRule {
  if (rule.mask_email === true) return MASK_EMAIL;
  if (rule.keep_prefix !== undefined && rule.keep_prefix > 0) return Object.freeze({ kind: 'keep_prefix', keep: rule.keep_prefix });
  return FULL;
}

export function compileMaskingPolicy(masking: MaskingConfig, override: MaskingOverrideConfig | undefined, maskText: TextMasker): MaskingPolicy {
  const rules = new Map<string, KeyRule>();
  for (const key of masking.baseline_keys) rules.set(key.toLowerCase(), FULL);
  for (const [key, rule] of Object.entries(masking.partial_rules)) rules.set(key.toLowerCase(), toKeyRule(rule));
  if (override !== undefined) {
    for (const key of override.exempt_keys) rules.delete(key.toLowerCase());
    for (const key of override.extra_keys) if (!rules.has(key.toLowerCase())) rules.set(key.toLowerCase(), FULL);
    for (const [key, rule] of Object.entries(override.partial_rules)) rules.set(key.toLowerCase(), toKeyRule(rule));
  }
  return Object.freeze({
    replacement: masking.replacement,
    maskText,
    ruleFor: (key: string) => rules.get(key.toLowerCase()),
  });
}

/**
 * The masking policy of every API key, by key name. Throws CONFIG_INVALID for a custom value
 * pattern that does not compile, and TypeError when two API keys share a name but not a masking
 * override.
 */
export function compilePolicies(config: Config): Map<string, MaskingPolicy> {
  const maskText = compileValuePatterns(config.masking.patterns, config.masking.replacement);
  const policies = new Map<string, MaskingPolicy>();
  const overrides = new Map<string, string>();
  for (const key of Object.values(config.security.api_keys)) {
    // Requests name their key, not their token: two tokens of one name must mask alike.
    const override = JSON.stringify(key.masking ?? null);
    const seen = overrides.get(key.name);
    if (seen !== undefined && seen !== override) {
      throw new TypeError(`API keys named ${key.name} have different masking overrides; names must identify one policy`);
    }
    if (seen === undefined) {
      overrides.set(key.name, override);
      policies.set(key.name, compileMaskingPolicy(config.masking, key.masking, maskText));
    }
  }
  return policies;
}
