/**
 * Reads records along a read plan: the segments from a position up to the durable end, each
 * with the offset it may be read to. The plan is everything a reader needs to know about the
 * WAL's state, so the reading can happen away from the writer — in the WAL itself, or in the
 * forwarder's delivery thread, which opens the segment files read-only. What is before a
 * plan's ends never changes while the WAL is open (appends only add after the durable end, and
 * a segment is deleted only once the cursor has passed it), so both read the same records.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { scanFrames } from './frame-scanner.js';
import { HEADER_BYTES, segmentFileName } from './segment-format.js';
import type { CorruptNote, ReadLimits, ReadPlan, WalPosition, WalReadResult, WalRecord } from './types.js';

export interface PlanReadResult extends WalReadResult {
  /** Damage met, for the WAL to count once (a retry reads the same damage again). */
  readonly corruptNotes: CorruptNote[];
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

export async function readRecords(plan: ReadPlan, limits: ReadLimits, openSegment: SegmentOpener = openForOneRead(plan.dir)): Promise<PlanReadResult> {
  const records: WalRecord[] = [];
  const corruptNotes: CorruptNote[] = [];
  let corrupt = 0;
  let bytes = 0;
  let next: WalPosition = plan.start;
  for (const [i, { segment, end }] of plan.segments.entries()) {
    if (records.length >= limits.maxRecords || (records.length > 0 && bytes >= limits.maxBytes)) break;
    const from = i === 0 ? plan.start.offset : HEADER_BYTES;
    const opened = from < end ? await openSegment(segment).catch(missingAsNull) : undefined;
    if (opened === null) {
      // Deleted by hand while the WAL is open: what it held is gone. Counted as one loss (the
      // count is exact at the next start, from the neighbouring segments' seqs); reading goes on.
      corrupt += 1;
      corruptNotes.push({ count: 1, scannedTo: { segment, offset: end } });
      next = { segment, offset: end };
    } else if (opened) {
      const { fh, release } = opened;
      try {
        const r = await scanFrames(fh, from, end, { maxRecords: limits.maxRecords - records.length, maxBytes: Math.max(1, limits.maxBytes - bytes) }, 0);
        for (const f of r.frames) {
          records.push({
            seq: f.seq,
            appendedAtMs: f.appendedAtMs,
            payload: f.payload,
            position: { segment, offset: f.offset },
            next: { segment, offset: f.offset + f.size },
          });
          bytes += f.payload.length;
        }
        if (r.corrupt > 0) {
          corrupt += r.corrupt;
          corruptNotes.push({ count: r.corrupt, scannedTo: { segment, offset: r.next } });
        }
        next = { segment, offset: r.next };
        if (r.next < end) break;
      } finally {
        await release();
      }
    } else {
      next = { segment, offset: from };
    }
    // The end of a sealed segment is the start of the next one in the plan.
    const following = plan.segments[i + 1];
    if (following) next = { segment: following.segment, offset: HEADER_BYTES };
  }
  return { records, next, corrupt, corruptNotes };
}
