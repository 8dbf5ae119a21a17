/**
 * What one append hands the WAL: entries, each referring to its label set by index, so that a
 * label set shared by many entries is held, and written, once. The entries' bytes lie back to
 * back in one buffer: a request of 100,000 small entries is one allocation, not 100,000.
 *
 * The builder knows what the batch will cost in the WAL before anything is encoded: each entry
 * is checked against the WAL's room (quota left, disk above its reserve) before its bytes are
 * written, so a request the WAL cannot take is refused having cost at most one entry more than
 * the room.
 */
import { logstackError } from '../errors.js';
import { freeBuffer } from '../pipeline/freed-buffer.js';
import { FRAME_HEAD_BYTES, MAX_LABEL_SET_BYTES, MAX_WRITTEN_FRAME_BYTES } from './segment-format.js';
import type { WalRoom } from './types.js';

/** An entry record's references to its label set and the copy: two varints of offsets below 2^48. */
export const MAX_REFS_BYTES = 14;
/** Bytes of entry data a batch may hold: offsets are kept in 32 bits. */
const MAX_DATA_BYTES = 2 ** 31;

export interface AppendBatch {
  /** The label sets, each once, as `formatLabels` writes them. */
  readonly labelSets: readonly string[];
  /** Their UTF-8 lengths. */
  readonly labelSetBytes: readonly number[];
  /** The entries (Loki EntryAdapters, src/loki/entry-codec.ts), back to back. */
  readonly data: Buffer;
  /** Per entry: where it ends in `data` (it starts where the one before ends). */
  readonly ends: Uint32Array;
  /** Per entry: the index of its label set. */
  readonly labelSetOf: Uint32Array;
  readonly entries: number;
  /** The most the batch can cost in the WAL: a record per entry and two per label set. */
  readonly walBytes: number;
}

/** The WAL bytes of an entry record with a payload of `entryBytes`, at most. */
export function entryRecordBytes(entryBytes: number): number {
  return FRAME_HEAD_BYTES + MAX_REFS_BYTES + entryBytes;
}

/** The WAL bytes of a label set written with its copy. */
export function labelSetRecordBytes(labelBytes: number): number {
  return 2 * (FRAME_HEAD_BYTES + labelBytes);
}

/** The bytes of entry `i` of `batch`. */
export function entryOf(batch: AppendBatch, i: number): Buffer {
  return batch.data.subarray(i === 0 ? 0 : batch.ends[i - 1]!, batch.ends[i]!);
}

const UNBOUNDED: WalRoom = { roomBytes: () => Number.POSITIVE_INFINITY, admit: () => {} };

export class AppendBatchBuilder {
  readonly #room: WalRoom;
  #roomBytes: number;
  readonly #index = new Map<string, number>();
  readonly #labelSets: string[] = [];
  readonly #labelSetBytes: number[] = [];
  #data: Buffer;
  #used = 0;
  #ends: Uint32Array;
  #labelSetOf: Uint32Array;
  #entries = 0;
  #walBytes = 0;

  /** `room` bounds what may be built; `expected` sizes the first allocations (entries, data bytes). */
  constructor(room: WalRoom = UNBOUNDED, expected: { entries?: number; bytes?: number } = {}) {
    this.#room = room;
    this.#roomBytes = room.roomBytes();
    const entries = Math.max(16, expected.entries ?? 16);
    this.#data = Buffer.allocUnsafe(Math.max(1024, expected.bytes ?? 1024));
    this.#ends = new Uint32Array(entries);
    this.#labelSetOf = new Uint32Array(entries);
  }

  get entries(): number {
    return this.#entries;
  }

  /** Where the bytes written by `claim`'s caller go; valid until the next `claim`. */
  get buffer(): Buffer {
    return this.#data;
  }

  /**
   * Makes room for an entry of `bytes` with label set `labels` and returns where to write it
   * in `buffer`. Throws the WAL's refusal (WAL_QUOTA_EXCEEDED, WAL_DISK_RESERVE, ...) when the
   * batch would cost more than the WAL can take, and WAL_RECORD_TOO_LARGE for an entry or a
   * label set larger than a record may be, before anything of the entry is written.
   */
  claim(labels: string, bytes: number): number {
    let labelSet = this.#index.get(labels);
    let cost = entryRecordBytes(bytes);
    if (cost > MAX_WRITTEN_FRAME_BYTES) throw logstackError('WAL_RECORD_TOO_LARGE', ['An entry', bytes, MAX_WRITTEN_FRAME_BYTES - FRAME_HEAD_BYTES - MAX_REFS_BYTES]);
    let labelBytes = 0;
    if (labelSet === undefined) {
      labelBytes = Buffer.byteLength(labels);
      if (labelBytes > MAX_LABEL_SET_BYTES) throw logstackError('WAL_RECORD_TOO_LARGE', ['A label set', labelBytes, MAX_LABEL_SET_BYTES]);
      cost += labelSetRecordBytes(labelBytes);
    }
    const total = this.#walBytes + cost;
    if (total > this.#roomBytes) {
      this.#room.admit(total);
      this.#roomBytes = Math.max(total, this.#room.roomBytes());
    }
    if (labelSet === undefined) {
      labelSet = this.#labelSets.length;
      this.#index.set(labels, labelSet);
      this.#labelSets.push(labels);
      this.#labelSetBytes.push(labelBytes);
    }
    this.#reserve(bytes);
    const at = this.#used;
    this.#used += bytes;
    this.#ends[this.#entries] = this.#used;
    this.#labelSetOf[this.#entries] = labelSet;
    this.#entries++;
    this.#walBytes = total;
    return at;
  }

  /** Adds an entry whose bytes exist already. */
  add(labels: string, entry: Buffer): void {
    const at = this.claim(labels, entry.length);
    entry.copy(this.#data, at);
  }

  #reserve(bytes: number): void {
    if (this.#entries === this.#ends.length) {
      const ends = new Uint32Array(this.#ends.length * 2);
      ends.set(this.#ends);
      this.#ends = ends;
      const of = new Uint32Array(this.#labelSetOf.length * 2);
      of.set(this.#labelSetOf);
      this.#labelSetOf = of;
    }
    const needed = this.#used + bytes;
    if (needed > MAX_DATA_BYTES) throw new RangeError(`a batch holds at most ${MAX_DATA_BYTES} bytes of entries`);
    if (needed > this.#data.length) {
      const data = Buffer.allocUnsafe(Math.min(MAX_DATA_BYTES, Math.max(needed, this.#data.length * 2)));
      this.#data.copy(data, 0, 0, this.#used);
      freeBuffer(this.#data);
      this.#data = data;
    }
  }

  build(): AppendBatch {
    return {
      labelSets: this.#labelSets,
      labelSetBytes: this.#labelSetBytes,
      data: this.#data.subarray(0, this.#used),
      ends: this.#ends.subarray(0, this.#entries),
      labelSetOf: this.#labelSetOf.subarray(0, this.#entries),
      entries: this.#entries,
      walBytes: this.#walBytes,
    };
  }
}

/** A batch of entries already encoded, e.g. dead letters requeued. */
export function batchOf(entries: ReadonlyArray<{ readonly labels: string; readonly entry: Buffer }>, room?: WalRoom): AppendBatch {
  let bytes = 0;
  for (const e of entries) bytes += e.entry.length;
  const builder = new AppendBatchBuilder(room, { entries: entries.length, bytes });
  for (const e of entries) builder.add(e.labels, e.entry);
  return builder.build();
}
