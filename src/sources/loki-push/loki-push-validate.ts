/**
 * What the push API refuses beyond Loki's own limits (src/loki/limits.ts), and the answer that
 * lists a push's refused entries.
 */
import { logstackError } from '../../errors.js';
import type { LabelPairs } from '../../loki/entry.js';
import { FORBIDDEN_KEYS } from '../../pipeline/limits.js';
import type { PushProblem } from './loki-push-request.js';

/** Problems listed in a 400's `details`: a push of many thousands of bad entries stays readable. */
export const MAX_LISTED_PROBLEMS = 100;

/**
 * Why an entry's structured metadata names are refused, as `/v1/logs:ingest` refuses such
 * metadata keys: `__proto__`, `constructor` and `prototype` reach Object.prototype in whatever
 * consumer of Loki assigns through them. One reason for the first such name, or none.
 */
export function metadataNameProblem(structuredMetadata: LabelPairs): string | null {
  const i = structuredMetadata.findIndex(([name]) => FORBIDDEN_KEYS.has(name));
  return i < 0 ? null : `has structured metadata pair ${i} with a forbidden name (__proto__, constructor and prototype are refused)`;
}

/** The LOKI_PUSH_INVALID error: `invalid` of `total` entries refused, the first problems listed. */
export function pushInvalid(problems: readonly PushProblem[], invalid: number, total: number): Error {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  return logstackError('LOKI_PUSH_INVALID', [invalid, total], { details: listed });
}
