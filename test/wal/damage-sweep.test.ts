/**
 * The classes behind the damage table (damage.test.ts), swept: cursor fields each out of range
 * in every direction, segment header bytes flipped one at a time, truncation at every offset of
 * the last two records. Each case damages a copy of a WAL a SIGKILL left (test/support/
 * crashed-wal.ts) and restarts on it at the WAL level — the store opens (recovery), and
 * everything is read from where delivery resumes by the reader the delivery thread runs —
 * hundreds of times, which a service start per case would make minutes. Each time: every record
 * with a good CRC is delivered, the loss is counted exactly, and verify (its code, in process)
 * says the same as the start.
 */
import { readFile, stat, truncate } from 'node:fs/promises';
import t from 'tap';
import { decodeEntryAdapter } from '../../src/loki/entry-codec.js';
import { HEADER_BYTES, KIND_LABEL_SET, checkFrame } from '../../src/wal/segment-format.js';
import type { WalPosition, WalStore } from '../../src/wal/types.js';
import { snapshotToken } from '../../src/wal/wal-inspector.js';
import { verifyToken, type TokenVerification } from '../../src/wal/wal-verification.js';
import { KEY, SEGMENT_BYTES, copyOf, crashedWal, flip, idOf, pendingOf, segmentPath, segmentsOf, tokenDir, writeCursor } from '../support/crashed-wal.js';
import { lostEntries, openWal, recordingObserver, type ObservedEvents } from '../support/wal.js';

// Some 400 restarts of the WAL.
t.setTimeout(300_000);

const base = await crashedWal(t, 50, 200);

interface Placed {
  readonly id: string;
  readonly seq: number;
  readonly position: WalPosition;
  readonly next: WalPosition;
}

/** Where every entry record is, read from an undamaged copy by the WAL's reader. */
async function layout(root: string): Promise<Placed[]> {
  const store = await openWal(root, { tokens: [KEY], segmentMaxBytes: SEGMENT_BYTES });
  const wal = store.token(KEY);
  const out: Placed[] = [];
  for (let pos = { segment: 0, offset: 0 }, afterSeq: number | null = null; ; ) {
    const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 22 }, afterSeq);
    if (r.records.length === 0) break;
    for (const rec of r.records) out.push({ id: idOf(decodeEntryAdapter(rec.entry, rec.labels).line), seq: rec.seq, position: rec.position, next: rec.next });
    pos = r.next;
    afterSeq = r.coveredSeq;
  }
  await store.close();
  return out;
}

interface WalOutcome {
  /** Ids of the records read, in order, from where the restart resumed delivery. */
  readonly delivered: string[];
  readonly lost: number;
  readonly events: ObservedEvents;
  readonly verify: TokenVerification;
}

/**
 * A restart at the WAL level: the store opens (recovery) and everything is read from the cursor
 * the way the forwarder reads (each read after the last, the damage noted, the cursor moved), by
 * the reader the delivery thread runs. `verify` is taken first, on the files as they were.
 */
async function walRestart(root: string): Promise<WalOutcome> {
  const verify = await verifyToken(await snapshotToken({ name: KEY, dir: tokenDir(root) }), false);
  const { observer, events } = recordingObserver();
  const store: WalStore = await openWal(root, { tokens: [KEY], segmentMaxBytes: SEGMENT_BYTES, observer });
  const wal = store.token(KEY);
  const delivered: string[] = [];
  let pos = wal.cursor;
  let afterSeq = wal.cursorAfterSeq;
  for (;;) {
    const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 22 }, afterSeq);
    for (const rec of r.records) delivered.push(idOf(decodeEntryAdapter(rec.entry, rec.labels).line));
    if (r.records.length === 0 && r.next.segment === pos.segment && r.next.offset === pos.offset) break;
    pos = r.next;
    afterSeq = r.coveredSeq ?? afterSeq;
  }
  // Acknowledged once, as a push of all of it would be: the cursor passes the damage too.
  await wal.ack(pos, Math.max(wal.stats().ackedSeq, afterSeq ?? 0));
  const stats = wal.stats();
  await store.close();
  if (stats.pendingEntries !== 0) throw new Error(`${stats.pendingEntries} entries still pending after reading everything`);
  return { delivered, lost: lostEntries(events), events, verify };
}

t.test('cursor fields each out of range in every direction: nothing is lost or deleted, the cursor is used only when the records agree, verify says the same', async (t) => {
  const pristine = await copyOf(t, base);
  const placed = await layout(pristine);
  const pending = pendingOf(base, placed);
  const segments = await segmentsOf(pristine);
  const first = pending[0]!;
  const last = placed.at(-1)!;
  const inFirst = placed.filter((p) => p.position.segment === first.position.segment);
  const sizeOfFirst = (await stat(segmentPath(pristine, first.position.segment))).size;
  const good = { segment: first.position.segment, offset: first.position.offset, acked_seq: first.seq - 1 };
  const later = pending[40]!;
  const variants: Array<[string, Record<string, unknown>, boolean]> = [
    ['as written', good, true],
    ['segment -1', { ...good, segment: -1 }, false],
    ['segment 0', { ...good, segment: 0 }, false],
    // Before the oldest segment: it agrees when nothing on disk is at or before its acked seq (then
    // the segments between were deleted by hand, and what they held after it is lost).
    ['segment before the oldest', { ...good, segment: segments[0]! - 1 }, placed[0]!.seq > good.acked_seq],
    ['segment before the oldest, acked seq behind what is on disk', { ...good, segment: segments[0]! - 1, acked_seq: placed[0]!.seq }, false],
    ['a later record boundary, its acked seq matching', { segment: later.position.segment, offset: later.position.offset, acked_seq: later.seq - 1 }, true],
    ['segment one past the last', { ...good, segment: segments.at(-1)! + 1 }, false],
    ['segment 999999', { ...good, segment: 999_999 }, false],
    ['segment 2^48', { ...good, segment: 2 ** 48 }, false],
    ['segment past 2^53', { ...good, segment: 2 ** 53 + 2 }, false],
    ['segment 1.5', { ...good, segment: 1.5 }, false],
    ['segment "2"', { ...good, segment: String(good.segment) }, false],
    ['offset -1', { ...good, offset: -1 }, false],
    ['offset 0', { ...good, offset: 0 }, false],
    ['offset 63', { ...good, offset: 63 }, false],
    // At the segment's first frame: the cursor agrees when the first pending entry opens the segment.
    ['offset 64', { ...good, offset: HEADER_BYTES }, inFirst[0] === first],
    ['offset inside a record', { ...good, offset: first.position.offset + 1 }, false],
    ['offset at the segment’s end', { ...good, offset: sizeOfFirst }, inFirst.at(-1)!.seq === good.acked_seq],
    ['offset one past the end', { ...good, offset: sizeOfFirst + 1 }, false],
    ['offset 1e9', { ...good, offset: 1e9 }, false],
    ['offset past 2^53', { ...good, offset: 2 ** 53 + 2 }, false],
    ['acked seq -1', { ...good, acked_seq: -1 }, false],
    ['acked seq 0', { ...good, acked_seq: 0 }, false],
    ['acked seq one less', { ...good, acked_seq: good.acked_seq - 1 }, false],
    ['acked seq one more', { ...good, acked_seq: good.acked_seq + 1 }, false],
    ['acked seq of the last entry', { ...good, acked_seq: last.seq }, false],
    ['acked seq past the last entry', { ...good, acked_seq: last.seq + 1 }, false],
    ['acked seq 1e12', { ...good, acked_seq: 1e12 }, false],
    ['acked seq past 2^53', { ...good, acked_seq: 2 ** 53 + 2 }, false],
    ['at the very end, all delivered', { segment: last.next.segment, offset: (await stat(segmentPath(pristine, last.next.segment))).size, acked_seq: last.seq }, true],
  ];
  for (const [label, cursor, used] of variants) {
    const root = await copyOf(t, base);
    await writeCursor(root, cursor);
    const segmentsBefore = await segmentsOf(root);
    const out = await walRestart(root);
    // Not used: delivery restarts at the oldest segment, so everything on disk is sent again.
    const resumeSeq = used ? Number(cursor.acked_seq) : 0;
    const got = new Set(out.delivered);
    t.same(placed.filter((p) => p.seq > resumeSeq && !got.has(p.id)).map((p) => p.id), [], `${label}: every record after where delivery resumes is delivered`);
    t.equal(out.lost, 0, `${label}: nothing lost`);
    t.equal(out.events.cursorResets.length, used ? 0 : 1, `${label}: the cursor ${used ? 'is' : 'is not'} used`);
    t.equal(out.verify.cursorState.state === 'not-used', !used, `${label}: verify says the same of the cursor`);
    t.equal(out.verify.lostEntries, 0, `${label}: verify counts no loss`);
    if (!used) t.same(out.events.deleted.filter((s) => segmentsBefore.includes(s) && s < first.position.segment), [], `${label}: nothing deleted because of it`);
  }
});

t.test('a segment header’s bytes flipped one at a time: the header costs nothing, every record is delivered, verify says the same', async (t) => {
  const pristine = await copyOf(t, base);
  const pending = pendingOf(base, await layout(pristine));
  const victim = pending[100]!.position.segment;
  const inVictim = pending.filter((p) => p.position.segment === victim).length;
  for (let at = 0; at < HEADER_BYTES; at++) {
    const root = await copyOf(t, base);
    await flip(segmentPath(root, victim), at, 1 << (at % 8));
    const out = await walRestart(root);
    t.same(out.delivered, pending.map((p) => p.id), `byte ${at}: every record delivered, ${inVictim} of them in the damaged segment`);
    t.equal(out.lost, 0, `byte ${at}: nothing lost`);
    t.match(out.events.damage, [{ segment: victim, offset: 0, entries: 0, reason: /bad header/ }], `byte ${at}: the header damage is reported`);
    t.match(out.verify, { lostEntries: 0, damaged: true }, `byte ${at}: verify reports the damage and no loss`);
  }
});

t.test('truncation at every offset of the last two records: the records before the cut are delivered, the cut is a torn tail of exactly its bytes, verify says the same', async (t) => {
  const pristine = await copyOf(t, base);
  const pending = pendingOf(base, await layout(pristine));
  const [before, lastOne] = pending.slice(-2) as [Placed, Placed];
  const segment = lastOne.position.segment;
  const whole = await readFile(segmentPath(pristine, segment));
  t.equal(before.position.segment, segment, 'the last two records share a segment');
  t.equal(lastOne.next.offset, whole.length, 'the last record ends the segment');
  for (let cutAt = before.position.offset; cutAt < whole.length; cutAt++) {
    const root = await copyOf(t, base);
    await truncate(segmentPath(root, segment), cutAt);
    const out = await walRestart(root);
    const kept = pending.filter((p) => p.position.segment < segment || p.next.offset <= cutAt);
    t.same(out.delivered, kept.map((p) => p.id), `cut at ${cutAt}: every whole record delivered`);
    // A cut at the end of a record leaves nothing torn: it cannot be told from where writing stopped.
    const torn = cutAt - kept.at(-1)!.next.offset;
    t.same(out.events.tornTails.map((x) => x.bytes), torn > 0 ? [torn] : [], `cut at ${cutAt}: the torn tail is the bytes after the last whole record`);
    t.equal(out.lost, 0, `cut at ${cutAt}: no loss is counted at a restart (a crash leaves the same)`);
    t.equal(out.verify.lostEntries, 0);
    t.equal(out.verify.segments.find((s) => s.tornTail)?.tornTail?.bytes ?? 0, torn, `cut at ${cutAt}: verify reports the same torn tail`);
  }
});


/** Every frame of a segment file, in order: where it is, its kind and its size. */
function framesOf(file: Buffer): Array<{ offset: number; size: number; labelSet: boolean }> {
  const frames = [];
  for (let offset = HEADER_BYTES; offset < file.length; ) {
    const check = checkFrame(file, offset);
    if (check.kind !== 'frame') throw new Error(`no frame at ${offset}: ${check.kind}`);
    frames.push({ offset, size: check.frame.size, labelSet: check.frame.kind === KIND_LABEL_SET });
    offset += check.frame.size;
  }
  return frames;
}

t.test('one byte flipped in each frame of a segment, one at a time: an entry costs itself, a label set costs nothing (its copy is read), both copies cost exactly their entries; verify says the same', async (t) => {
  const pristine = await copyOf(t, base);
  const pending = pendingOf(base, await layout(pristine));
  // A sealed segment in the middle of the backlog: damage at the end of the last one is a torn tail.
  const victim = pending[100]!.position.segment;
  const inVictim = pending.filter((p) => p.position.segment === victim);
  const frames = framesOf(await readFile(segmentPath(pristine, victim)));
  const labelSets = frames.filter((f) => f.labelSet);
  t.ok(labelSets.length >= 2, `the segment holds its label set and the copy (${labelSets.length} label-set frames, ${inVictim.length} entries)`);
  for (const frame of frames) {
    // The length field, a byte of the seq, and the middle of the payload.
    for (const at of [frame.offset, frame.offset + 9, frame.offset + Math.floor((24 + frame.size) / 2)]) {
      const root = await copyOf(t, base);
      await flip(segmentPath(root, victim), at, 0x10);
      const out = await walRestart(root);
      const hit = inVictim.find((p) => p.position.offset === frame.offset);
      const expected = pending.filter((p) => p !== hit).map((p) => p.id);
      const what = `${frame.labelSet ? 'label set' : `entry ${hit?.seq}`} at ${frame.offset}, byte ${at - frame.offset}`;
      t.same(out.delivered, expected, `${what}: every other record delivered`);
      t.equal(out.lost, hit ? 1 : 0, `${what}: ${hit ? 'one entry' : 'nothing'} lost, counted`);
      t.ok(out.events.damage.some((d) => d.segment === victim), `${what}: the damage is reported`);
      t.equal(out.verify.lostEntries, out.lost, `${what}: verify counts the same`);
    }
  }

  const root = await copyOf(t, base);
  for (const frame of labelSets) await flip(segmentPath(root, victim), frame.offset + frame.size - 1, 0x10);
  const out = await walRestart(root);
  const ids = new Set(inVictim.map((p) => p.id));
  t.same(out.delivered, pending.filter((p) => !ids.has(p.id)).map((p) => p.id), 'both copies of the label set damaged: its entries are lost, every other record delivered');
  t.equal(out.lost, inVictim.length, 'the loss is counted exactly: every entry that referred to it');
  t.equal(out.verify.lostEntries, inVictim.length, 'verify counts the same');
});
