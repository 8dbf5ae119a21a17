/**
 * Readiness as a set of named checks; ready when every check asked passes. The WAL's checks are
 * built in; other components (the forwarder, Loki reachability) add theirs through
 * `AppDeps.readiness`. A probe may leave checks out (`/readyz?exclude=loki`): a Loki outage must
 * not make every replica unready, since accepting and buffering is exactly what LogStack is for then.
 */
import type { WalStore } from '../wal/types.js';

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail: string;
}

export type ReadinessChecks = Readonly<Record<string, ReadinessCheck>>;

/** One check, run on every /readyz: a costly one keeps its own cache (Loki's does). */
export type ReadinessCheckFn = () => ReadinessCheck | Promise<ReadinessCheck>;

/** The checks by name, in the order /readyz reports them. */
export type Readiness = Readonly<Record<string, ReadinessCheckFn>>;

/**
 * The WAL accepts appends and frees what is delivered: it is open, no token's WAL has failed
 * (after a failed fsync it refuses appends until reopened), no token's cursor write is failing
 * (its delivered segments would stay on disk), and its volume is above the disk reserve.
 */
export function walReadiness(wal: WalStore): Readiness {
  return {
    wal: () => {
      if (wal.state !== 'open') return { ok: false, detail: `the WAL is ${wal.state}` };
      const failed = wal.tokens().flatMap((token) => {
        const { failed: reason, cursorWriteFailed } = token.stats();
        return [reason, cursorWriteFailed].filter((r): r is string => r !== null).map((r) => `${token.name}: ${r}`);
      });
      return failed.length === 0 ? { ok: true, detail: 'open' } : { ok: false, detail: failed.join('; ') };
    },
    disk: () => {
      if (wal.state !== 'open') return { ok: false, detail: `the WAL is ${wal.state}` };
      const disk = wal.disk();
      return { ok: disk.ok, detail: `${disk.freePercent.toFixed(1)}% free (${disk.freeBytes} bytes), reserve ${disk.reservePercent}%` };
    },
  };
}

/** Runs the checks not excluded, at once; an excluded check is not run, so it is never waited on. */
export async function evaluateReadiness(readiness: Readiness, excluded: ReadonlySet<string>): Promise<ReadinessChecks> {
  const included = Object.entries(readiness).filter(([name]) => !excluded.has(name));
  return Object.fromEntries(await Promise.all(included.map(async ([name, check]) => [name, await check()] as const)));
}

export function isReady(checks: ReadinessChecks): boolean {
  return Object.values(checks).every((check) => check.ok);
}
