/**
 * One LogStack process per WAL root. proper-lockfile keeps a lock directory whose mtime the
 * holder refreshes; a lock not refreshed for `staleMs` belongs to a dead process (SIGKILL
 * leaves it behind) and is taken over, so a restart waits at most that long.
 */
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { logstackError } from '../errors.js';

export interface WalLockOptions {
  readonly root: string;
  readonly staleMs: number;
  /** The lock was lost while held (e.g. the event loop stalled past `staleMs`). */
  readonly onCompromised: (err: Error) => void;
}

export type ReleaseLock = () => Promise<void>;

/** The lock's directory under the WAL root. */
export const LOCK_DIR = '.lock';

export async function lockWalRoot(opts: WalLockOptions): Promise<ReleaseLock> {
  try {
    return await lockfile.lock(opts.root, {
      lockfilePath: join(opts.root, LOCK_DIR),
      realpath: false,
      stale: opts.staleMs,
      update: Math.max(1000, Math.floor(opts.staleMs / 2)),
      // Retry for a little longer than a dead holder's lock takes to go stale.
      retries: { retries: Math.ceil(opts.staleMs / 500) + 2, factor: 1, minTimeout: 500, maxTimeout: 500 },
      onCompromised: opts.onCompromised,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw logstackError('WAL_LOCKED', [opts.root], { cause: err });
    throw err;
  }
}
