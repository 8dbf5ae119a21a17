/**
 * The per-token delivery cursor on disk: `cursor.json`, replaced atomically (temp file, fsync,
 * rename, fsync of the directory), so a crash leaves either the old cursor or the new one.
 * A missing or unreadable cursor is not fatal: delivery restarts from the oldest segment and
 * Loki drops what it already has (the WAL keeps exact timestamps and lines).
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from './fs-sync.js';
import { MAX_U48 } from './segment-format.js';
import type { WalPosition } from './types.js';

export const CURSOR_FILE = 'cursor.json';
const CURSOR_VERSION = 1;

export interface StoredCursor extends WalPosition {
  readonly ackedSeq: number;
}

export type CursorRead =
  | { readonly kind: 'ok'; readonly cursor: StoredCursor }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly reason: string };

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export async function readCursor(dir: string): Promise<CursorRead> {
  let text: string;
  try {
    text = await readFile(join(dir, CURSOR_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', reason: (err as Error).message };
  }
  if (text.length === 0) return { kind: 'invalid', reason: 'cursor file is empty' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'cursor file is not JSON' };
  }
  const c = parsed as Record<string, unknown>;
  if (c === null || typeof c !== 'object' || c.version !== CURSOR_VERSION) return { kind: 'invalid', reason: 'unknown cursor version' };
  if (!isCount(c.segment) || !isCount(c.offset) || !isCount(c.acked_seq)) return { kind: 'invalid', reason: 'cursor fields are not whole numbers' };
  if (c.segment > MAX_U48 || c.offset > MAX_U48 || c.acked_seq > MAX_U48) return { kind: 'invalid', reason: 'cursor fields out of range' };
  return { kind: 'ok', cursor: { segment: c.segment, offset: c.offset, ackedSeq: c.acked_seq } };
}

export async function writeCursor(dir: string, cursor: StoredCursor): Promise<void> {
  const target = join(dir, CURSOR_FILE);
  const temp = `${target}.tmp`;
  const body = `${JSON.stringify({ version: CURSOR_VERSION, segment: cursor.segment, offset: cursor.offset, acked_seq: cursor.ackedSeq })}\n`;
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(body);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(temp, target);
  await fsyncDir(dir);
}

/** The cursor file of one token, for its WAL: written as the cursor moves. */
export class CursorFile {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Nothing to make ahead: each write makes its file. */
  async prepare(_read: CursorRead): Promise<void> {}

  write(cursor: StoredCursor): Promise<void> {
    return writeCursor(this.#dir, cursor);
  }

  async close(): Promise<void> {}
}
