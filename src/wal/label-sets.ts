/**
 * Label sets in a version 2 segment: written once per segment (and again, as a copy, after the
 * entries of the group that first needed them), and referred to by the entry records by the
 * offsets of both. Loki's and Prometheus' WALs write series the same way: the labels once, the
 * samples by reference. A segment is self-contained: a label set is written again in every
 * segment that uses it, so reading from any record needs nothing before the segment, and
 * deleting a delivered segment never strands an entry of the next one.
 *
 * The writer's table of what the active segment holds is bounded in bytes; past the bound it
 * starts over and label sets are written again, which costs disk, never correctness.
 */
import type { FileHandle } from 'node:fs/promises';
import { frameAt } from './frame-scanner.js';
import { KIND_LABEL_SET } from './segment-format.js';

/** Where a label set and its copy are in the active segment. */
export interface LabelSetPlace {
  readonly at: number;
  readonly copyAt: number;
}

/** Label text the writer remembers per token, at most: past it, label sets are written again. */
export const TABLE_MAX_BYTES = 256 * 1024;

/** The label sets the active segment holds, for the writer. */
export class SegmentLabelTable {
  readonly #places = new Map<string, LabelSetPlace>();
  #bytes = 0;

  get(labels: string): LabelSetPlace | undefined {
    return this.#places.get(labels);
  }

  /** Remembers label sets once they are durable in the segment. */
  add(labels: string, bytes: number, place: LabelSetPlace): void {
    if (this.#bytes + bytes > TABLE_MAX_BYTES) this.clear();
    this.#places.set(labels, place);
    this.#bytes += bytes;
  }

  /** A new segment holds none. */
  clear(): void {
    this.#places.clear();
    this.#bytes = 0;
  }
}

/** Writes `value` as a varint of exactly `width` bytes (continuation bytes pad it); returns the offset after it. */
export function writePaddedVarint(buf: Buffer, offset: number, value: number, width: number): number {
  let v = value;
  for (let i = 0; i < width - 1; i++) {
    buf[offset++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  if (v >= 128) throw new RangeError(`${value} does not fit a varint of ${width} bytes`);
  buf[offset++] = v;
  return offset;
}

/** The two references at the start of an entry record's payload, and where the entry starts. */
export function readRefs(payload: Buffer): { at: number; copyAt: number; entryStart: number } | null {
  let pos = 0;
  const read = (): number | null => {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 8 && pos < payload.length; i++) {
      const byte = payload[pos++]!;
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return value;
      multiplier *= 128;
    }
    return null;
  };
  const at = read();
  const copyAt = read();
  return at === null || copyAt === null ? null : { at, copyAt, entryStart: pos };
}

/** Label text the reader keeps, at most: a backlog of many label sets is read with bounded memory. */
export const LABEL_CACHE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Resolves entry records' references to label sets, for a reader: from the label-set frames
 * the reader has just scanned, from a cache, or by reading the frame where it is (before the
 * read's start, in the same segment: one positional read, never a scan). The copy is read when
 * the first one does not check out. Label-set records never change once durable, so the cache
 * needs no invalidation: segment numbers are never reused while the files exist.
 */
export class LabelSetReader {
  readonly #cache = new Map<string, string>();
  #bytes = 0;
  #last: { readonly file: string; readonly at: number; readonly copyAt: number; readonly labels: string } | null = null;

  /** Remembers a label-set frame met while scanning. */
  remember(file: string, offset: number, payload: Buffer): string {
    const key = `${file}@${offset}`;
    let labels = this.#cache.get(key);
    if (labels === undefined) {
      labels = payload.toString('utf8');
      this.#put(key, labels);
    }
    return labels;
  }

  /**
   * The label set of an entry record when it is the one the entry before referred to, without
   * a lookup: a read of 100,000 entries mostly of one stream costs no string key per entry.
   */
  known(file: string, at: number, copyAt: number): string | undefined {
    const last = this.#last;
    return last !== null && last.at === at && last.copyAt === copyAt && last.file === file ? last.labels : undefined;
  }

  /** The label set of an entry record, or null when neither it nor its copy can be read. */
  async resolve(fh: FileHandle, file: string, at: number, copyAt: number, end: number): Promise<string | null> {
    const labels = (await this.#readOne(fh, file, at, end)) ?? (await this.#readOne(fh, file, copyAt, end));
    if (labels !== null) this.#last = { file, at, copyAt, labels };
    return labels;
  }

  async #readOne(fh: FileHandle, file: string, offset: number, end: number): Promise<string | null> {
    const key = `${file}@${offset}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const frame = await frameAt(fh, offset, end);
    if (frame === null || frame.kind !== KIND_LABEL_SET) return null;
    const labels = frame.payload.toString('utf8');
    this.#put(key, labels);
    return labels;
  }

  #put(key: string, labels: string): void {
    if (this.#bytes + labels.length > LABEL_CACHE_MAX_BYTES) {
      this.#cache.clear();
      this.#bytes = 0;
    }
    this.#cache.set(key, labels);
    this.#bytes += labels.length;
  }
}
