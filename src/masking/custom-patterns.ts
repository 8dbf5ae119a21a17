/**
 * The operator's own patterns (`masking.patterns.custom`): JavaScript regular expressions
 * applied after the built-in rules, each match replaced with the pattern's replacement (`$1`,
 * `$<name>` as in String.prototype.replace). Their cost on hostile input is the operator's to
 * judge; the built-ins are linear.
 *
 * A pattern is checked when the configuration is loaded (config/load.ts), so that a bad one stops
 * the start with the key path and exit code 78 rather than a stack trace; the reason quotes
 * neither the pattern nor any text.
 */
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import type { TextMasker } from './value-patterns.js';

export type CustomPatternConfig = Config['masking']['patterns']['custom'][number];

/** What is wrong with `pattern`, or null when it compiles and cannot match the empty string. */
export function customPatternProblem(pattern: CustomPatternConfig): string | null {
  let regex: RegExp;
  try {
    regex = new RegExp(pattern.pattern, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  } catch (err) {
    // V8 quotes the pattern (`Invalid regular expression: /(…/: Unterminated group`): keep only the reason.
    const message = (err as Error).message;
    const reason = message.startsWith('Invalid flags') ? 'its flags are not valid' : (/: ([^:]*)$/.exec(message)?.[1] ?? 'it does not compile');
    return `is not a valid JavaScript regular expression (${reason})`;
  }
  if (regex.test('')) return 'matches the empty string, so it would rewrite every value';
  return null;
}

/** The custom patterns compiled into one masker. Throws CONFIG_INVALID for a pattern that has a problem. */
export function compileCustomPatterns(patterns: readonly CustomPatternConfig[]): TextMasker {
  const compiled = patterns.map((p, i) => {
    const problem = customPatternProblem(p);
    if (problem !== null) throw logstackError('CONFIG_INVALID', [`masking.patterns.custom[${i}].pattern (${p.name}) ${problem}`]);
    return { regex: new RegExp(p.pattern, p.flags.includes('g') ? p.flags : `${p.flags}g`), replacement: p.replacement };
  });
  if (compiled.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const { regex, replacement } of compiled) out = out.replace(regex, replacement);
    return out;
  };
}
