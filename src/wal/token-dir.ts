/**
 * The directory of a token's WAL is named after the key's configured name, never its secret,
 * so that a rotated token keeps its backlog and an operator can tell the directories apart.
 * Names are `[A-Za-z0-9_.:-]`; characters that are unsafe in a path (a leading dot, `:`) are
 * percent-encoded so that `.` and `..` can never be a token directory.
 */

export function tokenDirName(name: string): string {
  return encodeURIComponent(name).replace(/^\./, '%2E');
}

/** The key name of a token directory, or null for directories that are not ours. */
export function tokenNameOfDir(dir: string): string | null {
  if (dir.startsWith('.')) return null;
  try {
    const name = decodeURIComponent(dir);
    return tokenDirName(name) === dir ? name : null;
  } catch {
    return null;
  }
}
