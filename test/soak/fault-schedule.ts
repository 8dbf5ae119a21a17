/**
 * The soak's Loki faults, as a schedule of phases. A run is cut into cycles of about five
 * minutes (a run under 7.5 minutes is one cycle, however short), each laid out as
 * `CYCLE` says in seconds of a 300-second cycle, so a cycle of any length keeps every fault, scaled.
 */

export type FaultKind =
  | 'accept'
  /** Loki down: 503 `Ingester not ready`. */
  | 'outage-503'
  /** Loki down: connections reset. */
  | 'outage-reset'
  /** 429 with Retry-After to every push. */
  | 'rate-limited'
  /** Every push answered after 1–2 s. */
  | 'slow'
  /** The first pushes of the phase are refused for good (400); the rest accepted. */
  | 'refuse-400';

export interface FaultPhase {
  readonly kind: FaultKind;
  readonly cycle: number;
  readonly startMs: number;
  readonly endMs: number;
}

export interface Outage {
  readonly cycle: number;
  readonly startMs: number;
  readonly endMs: number;
}

const CYCLE_MS = 300_000;
const CYCLE: ReadonlyArray<readonly [FaultKind, number]> = [
  ['accept', 30],
  ['outage-503', 30],
  ['outage-reset', 30],
  ['accept', 60],
  ['rate-limited', 20],
  ['accept', 30],
  ['slow', 20],
  ['accept', 20],
  ['refuse-400', 5],
  ['accept', 55],
];
const CYCLE_SECONDS = CYCLE.reduce((sum, [, s]) => sum + s, 0);

export function faultSchedule(durationMs: number): FaultPhase[] {
  const cycles = Math.max(1, Math.round(durationMs / CYCLE_MS));
  const cycleMs = durationMs / cycles;
  const phases: FaultPhase[] = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    let at = cycle * cycleMs;
    for (const [kind, seconds] of CYCLE) {
      const endMs = at + (cycleMs * seconds) / CYCLE_SECONDS;
      phases.push({ kind, cycle, startMs: Math.round(at), endMs: Math.round(endMs) });
      at = endMs;
    }
  }
  return phases;
}

/** Each cycle's outage: its 503 phase and its reset phase, back to back. */
export function outagesOf(schedule: readonly FaultPhase[]): Outage[] {
  const outages: Outage[] = [];
  for (const phase of schedule) {
    if (phase.kind !== 'outage-503' && phase.kind !== 'outage-reset') continue;
    const last = outages.at(-1);
    if (last !== undefined && last.endMs === phase.startMs) outages[outages.length - 1] = { ...last, endMs: phase.endMs };
    else outages.push({ cycle: phase.cycle, startMs: phase.startMs, endMs: phase.endMs });
  }
  return outages;
}
