/**
 * A directory updated the way the kubelet updates a Secret or ConfigMap volume (its
 * AtomicWriter): the files live in a timestamped directory, `..data` is a symlink to it, and
 * each visible name is a symlink through `..data`. An update writes a new timestamped directory,
 * points a temporary symlink at it, renames that over `..data` (one atomic step) and removes the
 * old directory. A reader that resolves a name sees all old files or all new ones.
 */
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SecretVolume {
  readonly dir: string;
  /** The visible path of a file. */
  path(name: string): string;
  /** Replaces the whole content, atomically; names absent from `files` disappear. */
  update(files: Readonly<Record<string, string>>): Promise<void>;
}

let generation = 0;

export async function createSecretVolume(dir: string, files: Readonly<Record<string, string>>): Promise<SecretVolume> {
  await mkdir(dir, { recursive: true });
  const visible = new Set<string>();
  const update = async (next: Readonly<Record<string, string>>) => {
    const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${generation++}`;
    await mkdir(join(dir, stamp));
    for (const [name, content] of Object.entries(next)) await writeFile(join(dir, stamp, name), content);
    const old = await readlink(join(dir, '..data')).catch(() => null);
    await symlink(stamp, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const name of Object.keys(next)) {
      if (visible.has(name)) continue;
      await symlink(join('..data', name), join(dir, name));
      visible.add(name);
    }
    for (const name of [...visible].filter((n) => !(n in next))) {
      await rm(join(dir, name));
      visible.delete(name);
    }
    if (old !== null) await rm(join(dir, old), { recursive: true, force: true });
  };
  await update(files);
  return { dir, path: (name) => join(dir, name), update };
}
