/**
 * Seed and run count of the fuzz suites: fixed by default so that a run is reproducible,
 * overridden with FUZZ_SEED and FUZZ_RUNS to explore further or to replay a failure.
 */
import type { Parameters } from 'fast-check';

export interface FuzzSettings {
  readonly seed: number;
  /** Runs of each property; the suites scale their fixed loops by it too. */
  readonly runs: number;
  /** fast-check parameters with this seed and `runs` (scaled by `share`), for `fc.assert`. */
  params(share?: number): Parameters<unknown>;
  /** Says how to replay a failure. */
  replay: string;
}

function integerFrom(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new TypeError(`${name} must be an integer, not ${text}`);
  return value;
}

export function fuzzSettings(defaults: { seed: number; runs: number }): FuzzSettings {
  const seed = integerFrom('FUZZ_SEED', defaults.seed);
  const runs = Math.max(1, integerFrom('FUZZ_RUNS', defaults.runs));
  const replay = `replay with FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`;
  return {
    seed,
    runs,
    replay,
    params: (share = 1) => ({ seed, numRuns: Math.max(1, Math.round(runs * share)) }),
  };
}
