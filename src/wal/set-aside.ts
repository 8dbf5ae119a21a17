/**
 * Moving a file or folder out of the WAL's way without deleting it: renamed in place to
 * `<name>.set-aside` (`.set-aside.2`, … when that is taken), so that what it holds stays on the
 * volume for an operator to look at, and the name it blocked is free for the WAL's own file.
 * Used for what must not be read as the WAL's and cannot be left where it is: a segment whose
 * seqs overlap the others', a folder or FIFO where the cursor or the dead letters go.
 */
import { constants } from 'node:fs';
import { lstat, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from './fs-sync.js';

export const SET_ASIDE_SUFFIX = '.set-aside';
/** Names tried before giving up: a directory this full of set-aside copies needs an operator. */
const MAX_ATTEMPTS = 1000;

/** Whether a name is one `setAside` gave. */
export function isSetAsideName(name: string): boolean {
  return /\.set-aside(\.\d+)?$/.test(name);
}

async function taken(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Renames `name` in `dir` to a free name ending in `suffix` (`.2`, … after it when taken) and
 * makes the rename durable; returns the new name.
 */
export async function setAside(dir: string, name: string, suffix = SET_ASIDE_SUFFIX): Promise<string> {
  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    const target = `${name}${suffix}${n === 1 ? '' : `.${n}`}`;
    // The WAL lock is held: nothing else names files here, so the check cannot race.
    if (await taken(join(dir, target))) continue;
    await rename(join(dir, name), join(dir, target));
    await fsyncDir(dir);
    return target;
  }
  throw Object.assign(new Error(`no free name to set ${name} aside`), { code: 'EEXIST', syscall: 'rename' });
}

/**
 * Writes `bytes` to a new file named `<name><suffix>` (`.2`, … after it when taken) in `dir`,
 * durably: bytes about to be cut from a file, kept for an operator. Returns the file's name.
 */
export async function keepCopy(dir: string, name: string, suffix: string, bytes: Buffer): Promise<string> {
  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    const target = `${name}${suffix}${n === 1 ? '' : `.${n}`}`;
    let fh;
    try {
      fh = await open(join(dir, target), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(dir);
    return target;
  }
  throw Object.assign(new Error(`no free name to keep a copy of ${name}`), { code: 'EEXIST', syscall: 'open' });
}
