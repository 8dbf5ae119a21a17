import { appendFile, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { HEADER_BYTES, encodeHeader, segmentFileName, writeFrame } from '../../src/wal/segment-format.js';
import type { WalStore } from '../../src/wal/types.js';
import { snapshotToken } from '../../src/wal/wal-inspector.js';
import { verifyToken, type Severity, type TokenVerification } from '../../src/wal/wal-verification.js';
import { openWal, payload } from '../support/wal.js';

const PAYLOAD_BYTES = 300;
const FRAME_BYTES = 24 + PAYLOAD_BYTES;
/** Segments of 4096 bytes hold 12 records of this size. */
const SMALL_SEGMENTS = { segmentMaxBytes: 4096 };
const PER_SEGMENT = 12;

function recordOffset(indexInSegment: number): number {
  return HEADER_BYTES + (indexInSegment - 1) * FRAME_BYTES;
}

async function filled(root: string, n: number, opts = {}, ackSeq = 0): Promise<void> {
  const store: WalStore = await openWal(root, opts);
  const wal = store.token('alpha');
  for (let i = 1; i <= n; i++) await wal.append([payload(i, PAYLOAD_BYTES)]);
  if (ackSeq > 0) {
    const { records } = await wal.read(wal.cursor, { maxRecords: ackSeq, maxBytes: 1 << 20 });
    await wal.ack(records.at(-1)!.next, records.at(-1)!.seq);
  }
  await store.close();
}

function segmentPath(root: string, segment: number): string {
  return join(root, 'alpha', segmentFileName(segment));
}

async function patch(file: string, position: number, bytes: Buffer | ((old: number) => number)): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    if (Buffer.isBuffer(bytes)) {
      await fh.write(bytes, 0, bytes.length, position);
    } else {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, position);
      b[0] = bytes(b[0]!);
      await fh.write(b, 0, 1, position);
    }
  } finally {
    await fh.close();
  }
}

async function verify(root: string, lockHeld = false): Promise<TokenVerification> {
  return verifyToken(await snapshotToken({ name: 'alpha', dir: join(root, 'alpha') }), lockHeld);
}

function said(v: TokenVerification, severity: Severity): string[] {
  return v.findings.filter((f) => f.severity === severity).map((f) => f.message);
}

t.test('a clean WAL over several segments has no damage, and every record is counted', async (t) => {
  const root = t.testdir();
  await filled(root, 40, SMALL_SEGMENTS, 15);
  const v = await verify(root);
  t.equal(v.damaged, false);
  t.same(said(v, 'damage'), []);
  t.same(said(v, 'warning'), []);
  t.same(
    v.segments.map((s) => [s.segment, s.firstSeq, s.lastSeq, s.records]),
    [
      [2, 13, 24, 12],
      [3, 25, 36, 12],
      [4, 37, 40, 4],
    ],
    'segment 1 was deleted once the cursor passed it',
  );
});

t.test('a flipped byte is damage named by segment and offset; the records around it are kept', async (t) => {
  const root = t.testdir();
  await filled(root, 20);
  await patch(segmentPath(root, 1), recordOffset(5) + 40, (b) => b ^ 0xff);
  const v = await verify(root);
  t.equal(v.damaged, true);
  t.same(said(v, 'damage'), [`segment 1 offset ${recordOffset(5)}: corrupt record: CRC mismatch (${FRAME_BYTES} bytes, 1 record lost)`]);
  t.equal(v.segments[0]!.records, 19);
});

t.test('neighbouring damaged records are one region, the records lost counted from the seq gap', async (t) => {
  const root = t.testdir();
  await filled(root, 20);
  await patch(segmentPath(root, 1), recordOffset(5) + 2, (b) => b ^ 0x01);
  await patch(segmentPath(root, 1), recordOffset(6) + 100, (b) => b ^ 0x01);
  const v = await verify(root);
  const damagedLength = PAYLOAD_BYTES + (1 << 16);
  t.same(v.segments[0]!.corrupt, [{ offset: recordOffset(5), bytes: 2 * FRAME_BYTES, records: 2, reason: `length ${damagedLength} runs past the next good frame` }]);
});

t.test('a torn tail at the end of the last segment is a note, not damage', async (t) => {
  const root = t.testdir();
  await filled(root, 10);
  const garbage = Buffer.alloc(150, 0xab);
  garbage.writeUInt32LE(PAYLOAD_BYTES, 0);
  await appendFile(segmentPath(root, 1), garbage);
  const stopped = await verify(root);
  t.equal(stopped.damaged, false);
  t.same(said(stopped, 'note'), [`segment 1 offset ${recordOffset(11)}: torn tail: 150 bytes, will be truncated at next start`]);
  const running = await verify(root, true);
  t.same(said(running, 'note'), [`segment 1 offset ${recordOffset(11)}: torn tail: 150 bytes, possibly a write in progress`]);
});

t.test('damage at the end of a sealed segment is damage: nothing truncates it', async (t) => {
  const root = t.testdir();
  await filled(root, 30, SMALL_SEGMENTS);
  await patch(segmentPath(root, 1), recordOffset(PER_SEGMENT) + 60, (b) => b ^ 0xff);
  const v = await verify(root);
  t.equal(v.damaged, true);
  t.same(said(v, 'damage'), [`segment 1 offset ${recordOffset(PER_SEGMENT)}: corrupt record: CRC mismatch (${FRAME_BYTES} bytes, records lost)`]);
  t.same(said(v, 'warning'), [], 'the seq gap to the next segment is explained by the damage');
});

t.test('a bad segment header is damage', async (t) => {
  const root = t.testdir();
  await filled(root, 30, SMALL_SEGMENTS);
  await patch(segmentPath(root, 2), 0, Buffer.from('XXXX'));
  const v = await verify(root);
  t.equal(v.damaged, true);
  t.same(said(v, 'damage'), ['segment 2: bad header: bad magic; the next start sets it aside as .damaged']);
});

t.test('seq going backwards is damage, inside a segment and from one segment to the next', async (t) => {
  const root = t.testdir();
  await filled(root, 30, SMALL_SEGMENTS);
  const stale = Buffer.alloc(FRAME_BYTES);
  writeFrame(stale, 0, 3, Date.now(), payload(3, PAYLOAD_BYTES));
  await patch(segmentPath(root, 1), recordOffset(6), stale);
  await patch(segmentPath(root, 2), 0, encodeHeader({ segment: 2, createdAtMs: Date.now(), firstSeq: 5 }));
  const v = await verify(root);
  t.same(said(v, 'damage'), [
    `segment 1 offset ${recordOffset(6)}: corrupt record: seq 3 does not continue the sequence after 5 (${FRAME_BYTES} bytes, 1 record lost)`,
    'segment 2 starts at seq 5, not after seq 12 of segment 1: seq goes backwards',
  ]);
});

t.test('a segment missing in the middle shows as a seq gap: a warning', async (t) => {
  const root = t.testdir();
  await filled(root, 30, SMALL_SEGMENTS);
  await rm(segmentPath(root, 2));
  const v = await verify(root);
  t.equal(v.damaged, false);
  t.same(said(v, 'warning'), ['seq jumps from 12 (segment 1) to 25 (segment 3): 12 records missing']);
});

t.test('the cursor must be readable and point at a record boundary of a segment that exists', async (t) => {
  const cases: Array<[string, string | null, boolean, RegExp]> = [
    ['garbage', '{"version":1,"segment":"x"', true, /^cursor unreadable: cursor file is not JSON/],
    ['mid-record', JSON.stringify({ version: 1, segment: 1, offset: recordOffset(3) + 5, acked_seq: 2 }), true, /cursor offset \d+ in segment 1 is not at a record boundary/],
    ['past the end', JSON.stringify({ version: 1, segment: 1, offset: 1 << 20, acked_seq: 2 }), true, /cursor offset 1048576 is past the end of segment 1/],
    ['no such segment', JSON.stringify({ version: 1, segment: 9, offset: HEADER_BYTES, acked_seq: 2 }), true, /cursor points at segment 9, which does not exist/],
    ['missing', null, false, /^$/],
    ['before the oldest segment', JSON.stringify({ version: 1, segment: 0, offset: HEADER_BYTES, acked_seq: 0 }), false, /before the oldest segment 1/],
    ['on a record', JSON.stringify({ version: 1, segment: 1, offset: recordOffset(4), acked_seq: 3 }), false, /^$/],
  ];
  for (const [label, body, damaged, message] of cases) {
    const root = t.testdir();
    await filled(root, 10);
    const file = join(root, 'alpha', 'cursor.json');
    if (body === null) await rm(file, { force: true });
    else await writeFile(file, body);
    const v = await verify(root);
    t.equal(v.damaged, damaged, label);
    t.match(v.findings.map((f) => f.message).join('\n'), message, label);
  }
});

t.test('leftovers are reported, and are not damage', async (t) => {
  const root = t.testdir();
  await filled(root, 5);
  await writeFile(join(root, 'alpha', 'cursor.json.tmp'), '{"ver');
  await writeFile(join(root, 'alpha', `${segmentFileName(7)}.damaged`), 'XXXX');
  const v = await verify(root);
  t.equal(v.damaged, false);
  t.same(v.leftovers, [`${segmentFileName(7)}.damaged`, 'cursor.json.tmp']);
  t.same(said(v, 'warning'), [`${segmentFileName(7)}.damaged: a segment set aside at a start for a bad header; its records were not delivered`]);
  t.match(said(v, 'note'), ['cursor.json.tmp: left by an interrupted write, removed at next start']);
});
