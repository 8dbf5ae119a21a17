/**
 * A small, real filesystem for tests that fill a volume (ENOSPC, the disk reserve). Mounting
 * needs root; without it the caller skips.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  readonly path: string;
  unmount(): void;
}

/** A tmpfs of `sizeBytes` mounted on a new temp directory, or null when mounting is not allowed. */
export function mountTmpfs(sizeBytes: number): Tmpfs | null {
  const path = mkdtempSync(join(tmpdir(), 'logstack-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    rmSync(path, { recursive: true, force: true });
    return null;
  }
  return {
    path,
    unmount() {
      execFileSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}
