/**
 * Reads a file the configuration names (a certificate, a key, a token) without trusting its
 * size: at most `maxBytes` are read, whatever the file grew to, and a larger file is refused
 * rather than cut. The size is checked on the open descriptor, so a file swapped between the
 * check and the read cannot slip a larger one in.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type FileRead = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: string };

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

/** What went wrong with a file, in words an operator acts on; never the file's content. */
export function describeFileError(err: unknown): string {
  const { code, message } = err as NodeJS.ErrnoException;
  return FILE_ERRORS[code ?? ''] ?? message;
}

export function readBoundedFile(path: string, maxBytes: number): FileRead {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return { ok: false, reason: describeFileError(err) };
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return { ok: false, reason: FILE_ERRORS['EISDIR']! };
    if (stat.size > maxBytes) return { ok: false, reason: `it is ${stat.size} bytes, over the ${maxBytes} bytes such a file may have` };
    // One byte more than allowed tells a file that grew since fstat from one that did not.
    const buffer = Buffer.alloc(maxBytes + 1);
    let filled = 0;
    for (let n = -1; n !== 0 && filled < buffer.length; filled += n) n = readSync(fd, buffer, filled, buffer.length - filled, null);
    if (filled > maxBytes) return { ok: false, reason: `it is over the ${maxBytes} bytes such a file may have` };
    return { ok: true, bytes: buffer.subarray(0, filled) };
  } catch (err) {
    return { ok: false, reason: describeFileError(err) };
  } finally {
    closeSync(fd);
  }
}
