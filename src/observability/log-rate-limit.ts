/**
 * How many lines of a kind LogStack writes of its own log: a token bucket of `burst` refilled at
 * `perSecond`, and a count of what it held back for one summary line. Anyone can send requests
 * that are refused without a token; without a bound their lines are log volume a client chooses
 * (a 28-byte request, two lines of 480 bytes). Pure: the caller passes the time.
 */

export interface LogRateLimitShape {
  /** Lines let through per second, sustained. */
  readonly perSecond: number;
  /** Lines let through at once after a quiet spell. */
  readonly burst: number;
}

export interface SuppressedLines {
  readonly lines: number;
  /** Since the previous report (or the start), in seconds. */
  readonly seconds: number;
}

export interface LogRateLimit {
  /** Whether a line may be written at `nowMs` (taking a token); if not, it is counted as suppressed. */
  admit(nowMs: number): boolean;
  /** Counts `lines` more held back, of something `admit` refused. */
  suppress(lines: number): void;
  /** The lines held back since the previous report, and resets the count; null when none were. */
  report(nowMs: number): SuppressedLines | null;
}

export function createLogRateLimit(shape: LogRateLimitShape, startMs: number): LogRateLimit {
  let tokens = shape.burst;
  let filledAtMs = startMs;
  let suppressed = 0;
  let reportedAtMs = startMs;
  return {
    admit(nowMs) {
      // A clock that steps back refills nothing.
      tokens = Math.min(shape.burst, tokens + (Math.max(0, nowMs - filledAtMs) / 1000) * shape.perSecond);
      filledAtMs = Math.max(filledAtMs, nowMs);
      if (tokens >= 1) {
        tokens -= 1;
        return true;
      }
      suppressed += 1;
      return false;
    },
    suppress(lines) {
      suppressed += lines;
    },
    report(nowMs) {
      const seconds = Math.max(0, nowMs - reportedAtMs) / 1000;
      reportedAtMs = nowMs;
      if (suppressed === 0) return null;
      const lines = suppressed;
      suppressed = 0;
      return { lines, seconds };
    },
  };
}
