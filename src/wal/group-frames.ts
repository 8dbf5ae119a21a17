/**
 * The frames of one append group, as the writer lays them out at the end of the active segment:
 *
 *   [label sets the segment does not hold yet] [entries] [copies of those label sets]
 *
 * Each entry record starts with the offsets of its label set and of the copy, then the entry.
 * The copies come after the entries, away from the first writing, so that damage to one place
 * does not take both; their offsets are only known once the entries are laid out, so those
 * references are written as varints of a fixed width (padded with continuation bytes), which
 * keeps every entry's size known before any is written. Label sets carry the seq of the entry
 * that follows them. Pure: it writes into the buffer it is given.
 */
import { varintSize, writeVarint } from '../loki/protobuf-wire.js';
import type { AppendBatch } from './append-batch.js';
import { type LabelSetPlace, type SegmentLabelTable, writePaddedVarint } from './label-sets.js';
import { FRAME_HEAD_BYTES, KIND_ENTRY, KIND_LABEL_SET, sealFrame } from './segment-format.js';

export interface GroupStart {
  /** Offset in the segment where the group is written. */
  readonly offset: number;
  readonly firstSeq: number;
  readonly nowMs: number;
}

export interface FramedGroup {
  /** The frames, a view of the buffer given. */
  readonly frames: Buffer;
  readonly lastSeq: number;
  /** Label sets written by this group, for the table once the group is durable. */
  readonly written: ReadonlyArray<{ readonly labels: string; readonly bytes: number; readonly place: LabelSetPlace }>;
}

interface NewLabelSet {
  readonly labels: string;
  readonly bytes: number;
  at: number;
  copyAt: number;
}

interface Ref {
  readonly at: number;
  /** Known for label sets the segment holds; filled in for new ones once the entries are laid out. */
  readonly fresh: NewLabelSet | null;
  readonly copyAt: number;
}

/** The most bytes `batches` can take framed: what `into` must hold. */
export function groupBytesBound(batches: readonly AppendBatch[]): number {
  let bytes = 0;
  for (const b of batches) bytes += b.walBytes;
  return bytes;
}

export function frameGroup(batches: readonly AppendBatch[], table: SegmentLabelTable, start: GroupStart, into: Buffer): FramedGroup {
  const fresh = new Map<string, NewLabelSet>();
  const refs: Ref[][] = [];
  let o = start.offset;
  for (const batch of batches) {
    const own: Ref[] = [];
    for (let j = 0; j < batch.labelSets.length; j++) {
      const labels = batch.labelSets[j]!;
      const held = table.get(labels);
      if (held) {
        own.push({ at: held.at, fresh: null, copyAt: held.copyAt });
        continue;
      }
      let set = fresh.get(labels);
      if (!set) {
        set = { labels, bytes: batch.labelSetBytes[j]!, at: o, copyAt: 0 };
        fresh.set(labels, set);
        o += FRAME_HEAD_BYTES + set.bytes;
      }
      own.push({ at: set.at, fresh: set, copyAt: 0 });
    }
    refs.push(own);
  }

  // Every copy lies before the group's end, which the bound caps.
  const copyWidth = varintSize(start.offset + groupBytesBound(batches));
  const refBytes = (ref: Ref) => varintSize(ref.at) + (ref.fresh ? copyWidth : varintSize(ref.copyAt));
  for (const [k, batch] of batches.entries()) {
    const own = refs[k]!;
    let previousEnd = 0;
    for (let i = 0; i < batch.entries; i++) {
      const end = batch.ends[i]!;
      o += FRAME_HEAD_BYTES + refBytes(own[batch.labelSetOf[i]!]!) + end - previousEnd;
      previousEnd = end;
    }
  }
  for (const set of fresh.values()) {
    set.copyAt = o;
    o += FRAME_HEAD_BYTES + set.bytes;
  }

  let w = 0;
  const base = start.offset;
  for (const set of fresh.values()) {
    const payloadEnd = w + FRAME_HEAD_BYTES + into.write(set.labels, w + FRAME_HEAD_BYTES, 'utf8');
    w = sealFrame(into, w, KIND_LABEL_SET, start.firstSeq, start.nowMs, payloadEnd - w - FRAME_HEAD_BYTES);
  }
  let seq = start.firstSeq;
  for (const [k, batch] of batches.entries()) {
    const own = refs[k]!;
    let previousEnd = 0;
    for (let i = 0; i < batch.entries; i++) {
      const end = batch.ends[i]!;
      const ref = own[batch.labelSetOf[i]!]!;
      let p = writeVarint(into, w + FRAME_HEAD_BYTES, ref.at);
      p = ref.fresh ? writePaddedVarint(into, p, ref.fresh.copyAt, copyWidth) : writeVarint(into, p, ref.copyAt);
      p += batch.data.copy(into, p, previousEnd, end);
      w = sealFrame(into, w, KIND_ENTRY, seq++, start.nowMs, p - w - FRAME_HEAD_BYTES);
      previousEnd = end;
    }
  }
  for (const set of fresh.values()) {
    const payloadEnd = w + FRAME_HEAD_BYTES + into.write(set.labels, w + FRAME_HEAD_BYTES, 'utf8');
    w = sealFrame(into, w, KIND_LABEL_SET, seq, start.nowMs, payloadEnd - w - FRAME_HEAD_BYTES);
  }
  if (base + w !== o) throw new Error(`group-frames: wrote ${w} of ${o - base} bytes`);
  return {
    frames: into.subarray(0, w),
    lastSeq: seq - 1,
    written: [...fresh.values()].map((s) => ({ labels: s.labels, bytes: s.bytes, place: { at: s.at, copyAt: s.copyAt } })),
  };
}
