/**
 * Notices when files the configuration names change, the way Kubernetes and cert-manager change
 * them: in place, or by an atomic swap of the `..data` symlink their paths go through. Each path
 * is stat'ed (through its symlinks) every interval and compared by device, inode, size, mtime
 * and ctime, so a swap to a new file is seen as well as a rewrite of the old one. Polling, like
 * Prometheus' config auto-reload, because inotify watches die with the file they watched when a
 * swap deletes it, and a few stats per interval cost nothing.
 */
import { stat } from 'node:fs/promises';

export interface FileWatcher {
  close(): void;
}

/** How often watched files are looked at, by default (ms). */
export const DEFAULT_POLL_INTERVAL_MS = 2000;

async function signature(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

/** What each of `paths` is now, for `watchFiles`' `seen`: taken before reading them, a change made while they are read is not missed. */
export async function fileSignatures(paths: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(paths)];
  const signatures = await Promise.all(unique.map(signature));
  return new Map(unique.map((path, i) => [path, signatures[i]!]));
}

/**
 * Calls `onChange` once per poll in which any of `paths` changed (appeared, went, or was
 * rewritten or replaced) since the previous one. Without `seen`, the first poll only records
 * what is there; with it, the first poll compares with `seen`, and a path it does not hold counts
 * as changed.
 */
export function watchFiles(paths: readonly string[], onChange: () => void, intervalMs = DEFAULT_POLL_INTERVAL_MS, seen?: ReadonlyMap<string, string>): FileWatcher {
  const unique = [...new Set(paths)];
  let last: Array<string | undefined> | null = seen === undefined ? null : unique.map((path) => seen.get(path));
  let polling = false;
  let closed = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const now = await Promise.all(unique.map(signature));
      const changed = last !== null && now.some((sig, i) => sig !== last![i]);
      last = now;
      if (changed && !closed) onChange();
    } finally {
      polling = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref();
  return {
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
