/**
 * Reads records along a read plan: the segments from a position up to the durable end, each
 * with the offset it may be read to. The plan is everything a reader needs to know about the
 * WAL's state, so the reading can happen away from the writer — in the WAL itself, in the
 * forwarder's delivery thread, which opens the segment files read-only, or in `logstack wal`,
 * which reads a WAL it does not own. What is before a plan's ends never changes while the WAL
 * is open (appends only add after the durable end, and a segment is deleted only once the
 * cursor has passed it), so all of them read the same records and count the same losses.
 *
 * Losses are counted from seqs: every entry between the last one accounted for and the next
 * good frame is lost, wherever the damage was (a damaged record, a missing segment, a file cut
 * short). An entry whose label set and its copy are both damaged is lost too. Each loss is
 * reported once per place with where reading resumed, so a re-read can tell it is the same.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ProtobufReader } from '../loki/protobuf-wire.js';
import { scanFrames, type DamageRegion } from './frame-scanner.js';
import { LabelSetReader, readRefs } from './label-sets.js';
import { HEADER_BYTES, KIND_LABEL_SET, KIND_V1_ENTRY, segmentFileName } from './segment-format.js';
import type { DamageNote, ReadLimits, ReadPlan, WalPosition, WalReadResult, WalRecord } from './types.js';

export interface PlanReadResult extends WalReadResult {
  /**
   * Damage running to the end of the last segment, when the plan does not know what was
   * written there (a tool reading beside the service, or after a crash): a torn tail, not
   * counted as lost. Null otherwise.
   */
  readonly tornTail: { readonly at: WalPosition; readonly bytes: number; readonly reason: string } | null;
  /**
   * Segments gone when they were to be read, when the plan is not the owner's (`lastSeq` null):
   * the running service delivered and deleted them meanwhile. The owner's plans never see this.
   */
  readonly vanished: number[];
}

/** Opens a segment file for reading; the default opens it for this read only. */
export type SegmentOpener = (segment: number) => Promise<{ fh: FileHandle; release(): Promise<void> }>;

export function openForOneRead(dir: string): SegmentOpener {
  return async (segment) => {
    const fh = await open(join(dir, segmentFileName(segment)), 'r');
    return { fh, release: () => fh.close() };
  };
}

function missingAsNull(err: NodeJS.ErrnoException): null {
  if (err.code === 'ENOENT') return null;
  throw err;
}

/**
 * The label set of a version 1 record, written before the entry in its payload. The records of
 * a read mostly share one: while its bytes are those of the record before, the same string is
 * returned, one string per run of a stream rather than one per entry.
 */
class InlineLabels {
  #bytes: Buffer | null = null;
  #text = '';
  entryStart = 0;

  read(payload: Buffer): string | null {
    let start: number;
    let end: number;
    try {
      [start, end] = new ProtobufReader(payload).lengthDelimited();
    } catch {
      return null;
    }
    const length = end - start;
    this.entryStart = end;
    const last = this.#bytes;
    if (last === null || last.length !== length || payload.compare(last, 0, length, start, end) !== 0) {
      this.#bytes = payload.subarray(start, end);
      this.#text = payload.toString('utf8', start, end);
    }
    return this.#text;
  }
}

interface Pending {
  readonly at: WalPosition;
  bytes: number;
  readonly reasons: string[];
  /** seq of the good frame after the last region, when one was found. */
  seqAfter: number | null;
}

export async function readRecords(
  plan: ReadPlan,
  limits: ReadLimits,
  openSegment: SegmentOpener = openForOneRead(plan.dir),
  labelSets: LabelSetReader = new LabelSetReader(),
): Promise<PlanReadResult> {
  const records: WalRecord[] = [];
  const damage: DamageNote[] = [];
  const inline = new InlineLabels();
  const vanished: number[] = [];
  let bytes = 0;
  let next: WalPosition = plan.start;
  /** Every entry up to this seq is returned, was before the plan, or is counted lost. */
  let countedTo = plan.afterSeq;
  let lastEntrySeq = plan.afterSeq;
  let pending: Pending | null = null;
  let reachedEnd = true;

  const closeGap = (seq: number, at: WalPosition): void => {
    const lost = countedTo === null ? 0 : Math.max(0, seq - countedTo - 1);
    if (lost === 0 && pending === null) return;
    const reason = pending ? pending.reasons.join('; ') : `seq jumps from ${countedTo} to ${seq}: entries ${countedTo! + 1}-${seq - 1} are not on disk`;
    damage.push({ at: pending?.at ?? at, entries: lost, bytes: pending?.bytes ?? 0, reason, resumedAt: at });
    pending = null;
  };
  const addDamage = (segment: number, region: DamageRegion): void => {
    pending ??= { at: { segment, offset: region.offset }, bytes: 0, reasons: [], seqAfter: null };
    pending.bytes += region.bytes;
    pending.reasons.push(region.reason);
    pending.seqAfter = region.seqAfter;
  };
  const lostToLabels = (at: WalPosition, resumedAt: WalPosition, reason: string): void => {
    const last = damage.at(-1);
    // Consecutive entries of one unreadable label set: one report.
    if (last && last.reason === reason && last.resumedAt.segment === at.segment && last.resumedAt.offset === at.offset) {
      damage[damage.length - 1] = { ...last, entries: last.entries + 1, resumedAt };
    } else {
      damage.push({ at, entries: 1, bytes: 0, reason, resumedAt });
    }
  };

  for (const [i, { segment, end }] of plan.segments.entries()) {
    if (records.length >= limits.maxRecords || (records.length > 0 && bytes >= limits.maxBytes)) {
      reachedEnd = false;
      break;
    }
    const from = i === 0 ? plan.start.offset : HEADER_BYTES;
    const file = join(plan.dir, segmentFileName(segment));
    const opened = from < end ? await openSegment(segment).catch(missingAsNull) : undefined;
    if (opened === null && plan.lastSeq === null) {
      // Beside the running service: it delivered the segment meanwhile. What follows is counted afresh.
      vanished.push(segment);
      countedTo = null;
      lastEntrySeq = null;
      next = { segment, offset: end };
    } else if (opened === null) {
      // Deleted by hand while the WAL is open: what it held is counted at the next entry found.
      pending ??= { at: { segment, offset: from }, bytes: 0, reasons: [], seqAfter: null };
      pending.bytes += end - from;
      pending.reasons.push(`segment ${segment} is missing`);
      next = { segment, offset: end };
    } else if (opened) {
      const { fh, release } = opened;
      try {
        const r = await scanFrames(fh, from, end, { maxRecords: limits.maxRecords - records.length, maxBytes: Math.max(1, limits.maxBytes - bytes) }, lastEntrySeq);
        let d = 0;
        /** The record whose `next` may reach past the label sets that follow it. */
        let extendable: number | null = null;
        for (const f of r.frames) {
          while (d < r.damage.length && r.damage[d]!.offset < f.offset) {
            addDamage(segment, r.damage[d++]!);
            extendable = null;
          }
          const position = { segment, offset: f.offset };
          const after = { segment, offset: f.offset + f.size };
          closeGap(f.seq, position);
          if (f.kind === KIND_LABEL_SET) {
            countedTo = countedTo === null ? f.seq - 1 : Math.max(countedTo, f.seq - 1);
            labelSets.remember(file, f.offset, f.payload);
            // Acknowledging the entry before a label set covers the label set: it holds no entry.
            if (extendable !== null) records[extendable] = { ...records[extendable]!, next: after };
            continue;
          }
          extendable = null;
          countedTo = f.seq;
          lastEntrySeq = f.seq;
          let labels: string | null;
          let entry: Buffer;
          if (f.kind === KIND_V1_ENTRY) {
            labels = inline.read(f.payload);
            entry = f.payload.subarray(inline.entryStart);
          } else {
            const refs = readRefs(f.payload);
            labels = refs && (labelSets.known(file, refs.at, refs.copyAt) ?? (await labelSets.resolve(fh, file, refs.at, refs.copyAt, end)));
            entry = f.payload.subarray(refs?.entryStart ?? 0);
          }
          if (labels === null) {
            lostToLabels(position, after, f.kind === KIND_V1_ENTRY ? 'a version 1 record without a readable label set' : 'its label set and the copy are both damaged');
            continue;
          }
          extendable = records.push({ seq: f.seq, appendedAtMs: f.appendedAtMs, labels, entry, position, next: after }) - 1;
          bytes += entry.length;
        }
        while (d < r.damage.length) addDamage(segment, r.damage[d++]!);
        next = { segment, offset: r.next };
        if (r.next < end) {
          reachedEnd = false;
          break;
        }
      } finally {
        await release();
      }
    } else {
      next = { segment, offset: Math.max(from, end) };
    }
    // The end of a sealed segment is the start of the next one in the plan.
    const following = plan.segments[i + 1];
    if (following) next = { segment: following.segment, offset: HEADER_BYTES };
  }

  let tornTail: PlanReadResult['tornTail'] = null;
  if (reachedEnd) {
    if (plan.lastSeq !== null) {
      // The durable end: what is missing before it was written, acknowledged and lost.
      closeGap(plan.lastSeq + 1, next);
      countedTo = countedTo === null ? plan.lastSeq : Math.max(countedTo, plan.lastSeq);
    } else if (pending !== null) {
      const p: Pending = pending;
      tornTail = { at: p.at, bytes: p.bytes, reason: p.reasons.join('; ') };
    }
  } else if (pending !== null) {
    // Stopped at a limit just after damage: the frame reading resumes at is known, report it now.
    const { seqAfter } = pending as Pending;
    if (seqAfter !== null) {
      closeGap(seqAfter, next);
      countedTo = countedTo === null ? seqAfter - 1 : Math.max(countedTo, seqAfter - 1);
    }
  }
  return { records, next, coveredSeq: countedTo, damage, tornTail, vanished };
}
