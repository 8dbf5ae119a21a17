/**
 * Reading files LogStack did not just create, in folders anyone with access to the volume can
 * write: a name the WAL expects to be a file may be a folder, a FIFO (opening one for reading
 * blocks until a writer comes: a start or a `logstack wal verify` that never ends) or a link
 * (which could point anywhere). They are opened without following links and without blocking,
 * and what is not a regular file is said, for the caller to set aside.
 */
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** What a thing that is not a regular file is, said to an operator. */
export function fileKind(st: Pick<Stats, 'isFile' | 'isDirectory' | 'isFIFO' | 'isSymbolicLink' | 'isSocket'>): string {
  if (st.isFile()) return 'a file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSymbolicLink()) return 'a link';
  return st.isSocket() ? 'a socket' : 'a device';
}

/** The open file, or what is there instead when it is not a regular file (a link: ELOOP is thrown). */
export async function openRegularForReading(path: string): Promise<FileHandle | { readonly notAFile: string }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  let st: Stats;
  try {
    st = await fh.stat();
  } catch (err) {
    await fh.close();
    throw err;
  }
  if (st.isFile()) return fh;
  await fh.close();
  return { notAFile: fileKind(st) };
}
