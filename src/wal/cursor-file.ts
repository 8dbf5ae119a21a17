/**
 * The per-token delivery cursor on disk, `cursor.json`: two slots of 4 KiB, each a JSON line
 * padded with spaces, written in place in turn (the older one each time) and fsync'd. A write
 * needs no new disk space — the blocks exist once the file does — so a full volume never stops
 * the cursor from moving, and with it the deletion of delivered segments, which is what frees
 * the volume. A torn write hits one slot only: its CRC fails and the other slot, the previous
 * cursor, is read. The slots are in separate 4 KiB pages, so no sector holds both.
 *
 * The cursor is a hint: what it says is checked against the segments before it is used
 * (cursor-check.ts). A missing or unreadable cursor is not fatal: delivery restarts from the
 * oldest segment and Loki drops what it already has (the WAL keeps exact timestamps and lines).
 *
 * The previous release wrote one JSON object (`{"version":1,...}`) by temp file and rename; it
 * is read as the cursor, and replaced by the slotted file when the token's WAL opens.
 */
import { constants } from 'node:fs';
import { open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from './fs-sync.js';
import { openRegularForReading } from './regular-file.js';
import { MAX_U48, WAL_ID } from './segment-format.js';
import type { WalPosition } from './types.js';

export const CURSOR_FILE = 'cursor.json';
const SLOT_BYTES = 4096;
const SLOTS = 2;
const FILE_BYTES = SLOT_BYTES * SLOTS;
/** A cursor file is never larger; a larger one is not read whole. */
const MAX_READ_BYTES = FILE_BYTES;
/** Files written here are never opened through a link, which could point anywhere. */
const WRITE_IN_PLACE = constants.O_RDWR | constants.O_NOFOLLOW;
const WRITE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
/** Past this generation the file is made anew, its count from 1: generations stay exact numbers. */
const MAX_GENERATION = 2 ** 48;

export interface StoredCursor extends WalPosition {
  readonly ackedSeq: number;
}

/**
 * Where the WAL's durable records ended when a cursor was written (at every acknowledgement and
 * at a clean stop): everything up to `lastSeq` was acknowledged to clients. Damage before it at
 * the next start is loss, not the torn tail of a crash.
 */
export interface DurableEnd extends WalPosition {
  readonly lastSeq: number;
}

export type CursorRead =
  /** `walId`: the id of the WAL that wrote it (segment-format.ts); null from earlier releases. */
  | { readonly kind: 'ok'; readonly cursor: StoredCursor; readonly generation: number; readonly walId: string | null; readonly durableEnd?: DurableEnd }
  /** The file holds no cursor yet: nothing was ever delivered since it was made. */
  | { readonly kind: 'none' }
  /** No file: deleted, or left by the previous release before its first delivery. */
  | { readonly kind: 'missing' }
  /** `notAFile`: something else (a folder, a FIFO) holds its name; the service sets it aside. */
  | { readonly kind: 'invalid'; readonly reason: string; readonly notAFile?: boolean };

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function body(generation: number, c: StoredCursor, walId: string | null, end?: DurableEnd): string {
  const endText = end === undefined ? '' : `,"end_segment":${end.segment},"end_offset":${end.offset},"end_seq":${end.lastSeq}`;
  return `{"version":2,"generation":${generation},"segment":${c.segment},"offset":${c.offset},"acked_seq":${c.ackedSeq}${walId === null ? '' : `,"wal":"${walId}"`}${endText}`;
}

function slotText(generation: number, c: StoredCursor, walId: string | null, end?: DurableEnd): Buffer {
  const text = body(generation, c, walId, end);
  const slot = Buffer.alloc(SLOT_BYTES, 0x20);
  slot.write(`${text},"crc":${crc32(text)}}`, 0, 'latin1');
  slot[SLOT_BYTES - 1] = 0x0a;
  return slot;
}

/** The fields of a parsed cursor, or why they are not a cursor's. */
function fields(c: Record<string, unknown>): StoredCursor | string {
  if (!isCount(c.segment) || !isCount(c.offset) || !isCount(c.acked_seq)) return 'cursor fields are not whole numbers';
  if (c.segment > MAX_U48 || c.offset > MAX_U48 || c.acked_seq > MAX_U48) return 'cursor fields out of range';
  return { segment: c.segment, offset: c.offset, ackedSeq: c.acked_seq };
}

type SlotRead = { readonly cursor: StoredCursor; readonly generation: number; readonly walId: string | null; readonly durableEnd?: DurableEnd } | { readonly invalid: string } | null;

function readSlot(bytes: Buffer): SlotRead {
  const text = bytes.toString('latin1').trimEnd();
  if (text === '' || /^\0*$/.test(text)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { invalid: 'not JSON' };
  }
  const c = parsed as Record<string, unknown>;
  if (c === null || typeof c !== 'object' || c.version !== 2) return { invalid: 'unknown cursor version' };
  const cursor = fields(c);
  if (typeof cursor === 'string') return { invalid: cursor };
  const walId = c.wal === undefined ? null : c.wal;
  if (walId !== null && (typeof walId !== 'string' || !WAL_ID.test(walId))) return { invalid: 'the WAL id is not 16 hex digits' };
  let durableEnd: DurableEnd | undefined;
  if (c.end_segment !== undefined || c.end_offset !== undefined || c.end_seq !== undefined) {
    const end = fields({ segment: c.end_segment, offset: c.end_offset, acked_seq: c.end_seq });
    if (typeof end === 'string') return { invalid: `durable end: ${end}` };
    durableEnd = { segment: end.segment, offset: end.offset, lastSeq: end.ackedSeq };
  }
  if (!isCount(c.generation) || c.crc !== crc32(body(c.generation, cursor, walId, durableEnd))) return { invalid: 'CRC mismatch' };
  return { cursor, generation: c.generation, walId, ...(durableEnd ? { durableEnd } : {}) };
}

/** The previous release's single object, or null when the file is not one. */
function readLegacy(bytes: Buffer): CursorRead | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('latin1'));
  } catch {
    return bytes.length < SLOT_BYTES ? { kind: 'invalid', reason: 'cursor file is not JSON' } : null;
  }
  const c = parsed as Record<string, unknown>;
  if (c !== null && typeof c === 'object' && c.version === 2) return null;
  if (c === null || typeof c !== 'object' || c.version !== 1) return { kind: 'invalid', reason: 'unknown cursor version' };
  const cursor = fields(c);
  return typeof cursor === 'string' ? { kind: 'invalid', reason: cursor } : { kind: 'ok', cursor, generation: 0, walId: null };
}

export async function readCursor(dir: string): Promise<CursorRead> {
  let bytes: Buffer;
  try {
    const fh = await openRegularForReading(join(dir, CURSOR_FILE));
    if ('notAFile' in fh) return { kind: 'invalid', reason: `${CURSOR_FILE} is ${fh.notAFile}, not a file`, notAFile: true };
    try {
      const buf = Buffer.alloc(MAX_READ_BYTES);
      const { bytesRead } = await fh.read(buf, 0, MAX_READ_BYTES, 0);
      bytes = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', reason: `cursor file unreadable (${(err as NodeJS.ErrnoException).code ?? 'EIO'})` };
  }
  if (bytes.length === 0) return { kind: 'invalid', reason: 'cursor file is empty' };
  const legacy = readLegacy(bytes);
  if (legacy !== null) return legacy;
  let best: { cursor: StoredCursor; generation: number; walId: string | null; durableEnd?: DurableEnd } | null = null;
  const problems: string[] = [];
  for (let slot = 0; slot < SLOTS; slot++) {
    const read = readSlot(bytes.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES));
    if (read === null) continue;
    if ('invalid' in read) problems.push(`slot ${slot}: ${read.invalid}`);
    else if (best === null || read.generation > best.generation) best = read;
  }
  if (best) return { kind: 'ok', ...best };
  return problems.length === 0 ? { kind: 'none' } : { kind: 'invalid', reason: problems.join('; ') };
}

/**
 * The cursor file of one token, held open for writing. Lifecycle: `prepare` (makes the slotted
 * file if there is none yet), then `write` as often as the cursor moves, then `close`.
 */
export class CursorFile {
  readonly #dir: string;
  #fh: FileHandle | null = null;
  #generation = 0;
  #walId: string | null = null;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The id of the WAL whose cursor this is, written with every cursor from now on. */
  setWalId(walId: string): void {
    this.#walId = walId;
  }

  /**
   * Makes sure the slotted file exists, holding what was read (or nothing) so that the cursor
   * read at the next start is the one read at this one. Needs disk space once; when it fails,
   * the next `write` tries again.
   */
  async prepare(read: CursorRead): Promise<void> {
    const target = join(this.#dir, CURSOR_FILE);
    if (read.kind === 'none' || (read.kind === 'ok' && read.generation > 0 && read.generation < MAX_GENERATION)) {
      if (read.kind === 'ok') this.#generation = read.generation;
      try {
        this.#fh = await open(target, WRITE_IN_PLACE);
      } catch (err) {
        // A link in its place is replaced by a file of its own, never written through.
        if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
      }
      if (this.#fh !== null && (await this.#fh.stat()).size >= FILE_BYTES) return;
      await this.#fh?.close();
      this.#fh = null;
    }
    // Rewritten as it was read, its WAL id too: a cursor another WAL wrote must not become ours.
    await this.#create(read.kind === 'ok' ? read.cursor : null, read.kind === 'ok' ? read.walId : null);
  }

  async #create(cursor: StoredCursor | null, walId: string | null, end?: DurableEnd): Promise<void> {
    this.#generation = 0;
    const target = join(this.#dir, CURSOR_FILE);
    const temp = `${target}.tmp`;
    const content = Buffer.alloc(FILE_BYTES, 0x20);
    content[SLOT_BYTES - 1] = 0x0a;
    content[FILE_BYTES - 1] = 0x0a;
    if (cursor) {
      this.#generation++;
      slotText(this.#generation, cursor, walId, end).copy(content, (this.#generation % SLOTS) * SLOT_BYTES);
    }
    // Whatever was left under the temp name goes (a link is removed, not followed).
    await unlink(temp).catch(() => undefined);
    const fh = await open(temp, WRITE_NEW);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(temp, { force: true }).catch(() => {});
      throw err;
    }
    await fh.close();
    await rename(temp, target);
    await fsyncDir(this.#dir);
    this.#fh = await open(target, WRITE_IN_PLACE);
  }

  /** Persists `cursor`, and where the durable records end, in the slot not holding the latest one, and fsyncs it. */
  async write(cursor: StoredCursor, end?: DurableEnd): Promise<void> {
    if (this.#fh === null) return this.#create(cursor, this.#walId, end);
    const generation = this.#generation + 1;
    const slot = slotText(generation, cursor, this.#walId, end);
    for (let written = 0; written < SLOT_BYTES; ) {
      written += (await this.#fh.write(slot, written, SLOT_BYTES - written, (generation % SLOTS) * SLOT_BYTES + written)).bytesWritten;
    }
    await this.#fh.datasync();
    this.#generation = generation;
  }

  async close(): Promise<void> {
    await this.#fh?.close();
    this.#fh = null;
  }
}
