/**
 * The directory of a token's WAL is named after the key's configured name, never its secret,
 * so that a rotated token keeps its backlog and an operator can tell the directories apart.
 * Names are `[A-Za-z0-9_.:-]{1,128}` (the configuration's rule); characters that are unsafe in a
 * path (a leading dot, `:`) are percent-encoded so that `.` and `..` can never be a token
 * directory.
 *
 * A folder under the WAL root is a token's only when it belongs to a configured key, or when
 * it is named as a key's would be and holds WAL files: the WAL of a key no longer configured,
 * whose backlog is still delivered. Anything else is not the WAL's and is left alone: its name
 * never becomes a token, a metric label or a log field's value.
 */
import { opendir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { CURSOR_FILE } from './cursor-file.js';
import { parseSegmentFileName } from './segment-format.js';

const KEY_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Entries of a folder looked at to tell whether it holds a WAL, at most. */
const LOOK_AT_ENTRIES = 10_000;

export function tokenDirName(name: string): string {
  return encodeURIComponent(name).replace(/^\./, '%2E');
}

/** The key name of a token directory, or null when the name is not one LogStack would write. */
export function tokenNameOfDir(dir: string): string | null {
  if (dir.startsWith('.')) return null;
  try {
    const name = decodeURIComponent(dir);
    return KEY_NAME.test(name) && tokenDirName(name) === dir ? name : null;
  } catch {
    return null;
  }
}

export type RootEntry = { readonly kind: 'leftover'; readonly name: string } | { readonly kind: 'ignored'; readonly reason: string };

/** What an entry of the WAL root that no configured key owns is. */
export async function classifyRootEntry(root: string, entry: Dirent): Promise<RootEntry> {
  if (!entry.isDirectory()) return { kind: 'ignored', reason: 'not a folder: the WAL root holds one folder per key' };
  const name = tokenNameOfDir(entry.name);
  if (name === null) return { kind: 'ignored', reason: 'not named as a key’s WAL folder' };
  let seen = 0;
  try {
    for await (const e of await opendir(join(root, entry.name))) {
      if (e.isFile() && (e.name === CURSOR_FILE || parseSegmentFileName(e.name) !== null)) return { kind: 'leftover', name };
      if (++seen >= LOOK_AT_ENTRIES) break;
    }
  } catch (err) {
    return { kind: 'ignored', reason: `could not be read (${(err as NodeJS.ErrnoException).code ?? 'EIO'})` };
  }
  return { kind: 'ignored', reason: 'holds no WAL files and no configured key is named so' };
}
