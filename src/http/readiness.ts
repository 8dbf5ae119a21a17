/**
 * Readiness as a set of named checks; ready when every one passes. The WAL's checks are built in;
 * other components (the forwarder, Loki reachability) add theirs through `AppDeps.readiness`.
 */
import type { WalStore } from '../wal/types.js';

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail: string;
}

export type ReadinessChecks = Readonly<Record<string, ReadinessCheck>>;

export type Readiness = () => ReadinessChecks | Promise<ReadinessChecks>;

/** The WAL accepts appends: it is open and its volume is above the disk reserve. */
export function walReadinessChecks(wal: WalStore): ReadinessChecks {
  if (wal.state !== 'open') {
    const detail = `the WAL is ${wal.state}`;
    return { wal: { ok: false, detail }, disk: { ok: false, detail } };
  }
  const disk = wal.disk();
  return {
    wal: { ok: true, detail: 'open' },
    disk: {
      ok: disk.ok,
      detail: `${disk.freePercent.toFixed(1)}% free (${disk.freeBytes} bytes), reserve ${disk.reservePercent}%`,
    },
  };
}

export function isReady(checks: ReadinessChecks): boolean {
  return Object.values(checks).every((check) => check.ok);
}
