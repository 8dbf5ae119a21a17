/**
 * A bounded label for why Loki refused entries, read from its error text (pkg/validation's
 * messages), so dead letters can be counted by reason without putting free text in a label.
 */
const REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/timestamp too old|too far behind|out of order/i, 'timestamp_too_old'],
  [/timestamp too new|too far in the future/i, 'timestamp_too_new'],
  [/line too long|max line size|max entry size/i, 'line_too_long'],
  [/structured metadata/i, 'structured_metadata'],
  [/label|stream selector/i, 'invalid_labels'],
  [/stream limit|max streams|maximum active stream/i, 'stream_limit'],
  [/rate limit|ingestion rate/i, 'rate_limited'],
  [/too large|413/i, 'too_large'],
  [/empty/i, 'empty'],
];

export function rejectionReason(status: number, message: string): string {
  for (const [pattern, reason] of REASONS) if (pattern.test(message)) return reason;
  return `http_${status}`;
}
