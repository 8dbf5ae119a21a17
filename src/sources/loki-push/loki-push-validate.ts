/**
 * The limits Loki enforces on each pushed entry, checked before LogStack accepts it: what Loki
 * would refuse with a 400 later would only end as a dead letter, while refused now it is the
 * client's to fix. Sizes are UTF-8 bytes, as Loki counts them, of the masked line and
 * structured metadata: what reaches Loki.
 */
import { logstackError } from '../../errors.js';
import type { LabelPairs, PushProblem } from './loki-push-request.js';
import { FORBIDDEN_KEYS, type Limits } from '../native/validate.js';

/** Problems listed in a 400's `details`: a push of many thousands of bad entries stays readable. */
export const MAX_LISTED_PROBLEMS = 100;

/** Whether `text` is over `maxBytes` in UTF-8, encoding it only when the length cannot tell. */
function utf8Over(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(text, 'utf8') > maxBytes;
}

function pairsBytes(pairs: LabelPairs): number {
  let bytes = 0;
  for (const [name, value] of pairs) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** Why Loki would refuse an entry with this timestamp (`nanos` as sent) and this many metadata pairs. */
export function timestampAndCountProblems(seconds: number, nanos: number, metadataCount: number, limits: Limits, nowMs: number): string[] {
  const problems: string[] = [];
  if (nanos >= 1e9) {
    problems.push('has a timestamp with nanos outside 0–999999999');
  } else {
    const ms = seconds * 1000 + Math.floor(nanos / 1e6);
    if (nowMs - ms > limits.max_past_seconds * 1000) {
      problems.push(`has a timestamp more than ${limits.max_past_seconds} s in the past (limits.max_past_seconds)`);
    } else if (ms - nowMs > limits.max_future_seconds * 1000) {
      problems.push(`has a timestamp more than ${limits.max_future_seconds} s in the future (limits.max_future_seconds)`);
    }
  }
  if (metadataCount > limits.max_metadata_keys) {
    problems.push(`has ${metadataCount} structured metadata pairs; at most ${limits.max_metadata_keys} are accepted (limits.max_metadata_keys)`);
  }
  return problems;
}

/**
 * Why an entry's structured metadata names are refused, as `/v1/logs:ingest` refuses such
 * metadata keys: `__proto__`, `constructor` and `prototype` reach Object.prototype in whatever
 * consumer of Loki assigns through them. One reason for the first such name, or none.
 */
export function metadataNameProblem(structuredMetadata: LabelPairs): string | null {
  const i = structuredMetadata.findIndex(([name]) => FORBIDDEN_KEYS.has(name));
  return i < 0 ? null : `has structured metadata pair ${i} with a forbidden name (__proto__, constructor and prototype are refused)`;
}

/** Why Loki would refuse an entry with this masked line and structured metadata. */
export function sizeProblems(line: string, structuredMetadata: LabelPairs, limits: Limits): string[] {
  const problems: string[] = [];
  if (utf8Over(line, limits.max_message_bytes)) {
    problems.push(`has a line longer than ${limits.max_message_bytes} UTF-8 bytes after masking (limits.max_message_bytes)`);
  }
  if (structuredMetadata.length > 0) {
    const bytes = pairsBytes(structuredMetadata);
    if (bytes > limits.max_structured_metadata_bytes) {
      problems.push(`has ${bytes} bytes of structured metadata after masking; at most ${limits.max_structured_metadata_bytes} (limits.max_structured_metadata_bytes)`);
    }
  }
  return problems;
}

/** The LOKI_PUSH_INVALID error: `invalid` of `total` entries refused, the first problems listed. */
export function pushInvalid(problems: readonly PushProblem[], invalid: number, total: number): Error {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  return logstackError('LOKI_PUSH_INVALID', [invalid, total], { details: listed });
}
