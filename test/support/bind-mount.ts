/**
 * A bind mount, to put one token's WAL directory on a volume of its own (a small tmpfs) or to
 * make it read-only under a running process. Mounting needs root; without it the caller skips.
 *
 * A read-only bind mount fails new opens, creates, renames and unlinks with EROFS, as a volume
 * remounted read-only after an I/O error does; unlike such a volume, it lets descriptors
 * opened before it keep writing (the kernel checks the mount they were opened through).
 */
import { execFileSync } from 'node:child_process';

export interface BindMount {
  readonly path: string;
  /** Remounts it read-only, or writable again, in place: open descriptors stay open. */
  setReadOnly(readOnly: boolean): void;
  /** Unmounts it; lazily if something still holds a file open under it. */
  unmount(): void;
}

/** Mounts `source` on `target` (they may be the same directory), or null when mounting is not allowed. */
export function bindMount(source: string, target: string): BindMount | null {
  try {
    execFileSync('mount', ['--bind', source, target], { stdio: 'ignore' });
  } catch {
    return null;
  }
  let mounted = true;
  return {
    path: target,
    setReadOnly(readOnly) {
      execFileSync('mount', ['-o', `remount,bind,${readOnly ? 'ro' : 'rw'}`, target], { stdio: 'ignore' });
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      try {
        execFileSync('umount', [target], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', target], { stdio: 'ignore' });
      }
    },
  };
}
