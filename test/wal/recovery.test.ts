import { appendFile, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { encodeHeader, HEADER_BYTES, MAX_U48, segmentFileName } from '../../src/wal/segment-format.js';
import type { TokenWal, WalPosition } from '../../src/wal/types.js';
import { entries, filled, lostEntries, openWal, payload, recordingObserver } from '../support/wal.js';

async function readSeqs(wal: TokenWal): Promise<number[]> {
  const seqs: number[] = [];
  let pos = wal.cursor;
  let afterSeq = wal.cursorAfterSeq;
  for (;;) {
    const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 20 }, afterSeq);
    for (const x of r.records) seqs.push(x.seq);
    if (r.records.length === 0) return seqs;
    pos = r.next;
    afterSeq = r.coveredSeq;
  }
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'alpha'))).filter((n) => n.endsWith('.wal')).sort();
}

function fileOf(dir: string, p: WalPosition): string {
  return join(dir, 'alpha', segmentFileName(p.segment));
}

async function flip(file: string, at: number, mask = 0xff): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0]! ^= mask;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

t.test('a torn tail (half a record) is truncated at open and appends go on after it', async (t) => {
  const dir = t.testdir();
  await filled(dir, 10);
  const file = join(dir, 'alpha', segmentFileName(1));
  const size = (await stat(file)).size;
  const garbage = Buffer.alloc(150, 0xab);
  garbage.writeUInt32LE(300, 0);
  await appendFile(file, garbage);

  const { observer, events } = recordingObserver();
  const store = await openWal(dir, { observer });
  const wal = store.token('alpha');
  t.same(await readSeqs(wal), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.equal((await stat(file)).size, size, 'file cut back to the last whole record');
  t.same(events.tornTails, [{ token: 'alpha', segment: 1, bytes: 150 }]);
  t.same(await wal.append(entries([payload(11)])), { firstSeq: 11, lastSeq: 11 });
  await store.close();
});

t.test('a segment cut at every byte of its last record opens with the records before it', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 3);
  const file = join(dir, 'alpha', segmentFileName(1));
  const whole = await readFile(file);
  for (let cut = placed[2]!.position.offset; cut < placed[2]!.next.offset; cut += 7) {
    await writeFile(file, whole.subarray(0, cut));
    const store = await openWal(dir);
    t.same(await readSeqs(store.token('alpha')), [1, 2], `cut at ${cut}`);
    await store.close();
  }
});

t.test('a flipped byte inside a record is detected, counted and skipped; the rest is read', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 20);
  for (const [seq, at] of [[5, 40], [12, 2]] as const) await flip(fileOf(dir, placed[seq - 1]!.position), placed[seq - 1]!.position.offset + at);

  const { observer, events } = recordingObserver();
  const store = await openWal(dir, { observer });
  const wal = store.token('alpha');
  const seqs = await readSeqs(wal);
  t.same(seqs, Array.from({ length: 20 }, (_, i) => i + 1).filter((s) => s !== 5 && s !== 12));
  t.equal(lostEntries(events), 2, 'two lost entries counted');
  t.same(
    events.damage.map((d) => [d.segment, d.offset, d.entries]),
    [
      [1, placed[4]!.position.offset, 1],
      [1, placed[11]!.position.offset, 1],
    ],
    'each reported once, where it is',
  );
  t.equal(wal.stats().corruptRecords, 2);
  t.same(await wal.append(entries([payload(21)])), { firstSeq: 21, lastSeq: 21 }, 'appends go on');
  await store.close();
});

t.test('random byte flips never stop the WAL from opening, and good records survive', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 50);
  const file = join(dir, 'alpha', segmentFileName(1));
  const original = await readFile(file);
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 15; round++) {
    const damaged = Buffer.from(original);
    const hits = new Set<number>();
    let labelsHit = false;
    for (let i = 0; i < 3; i++) {
      const pos = HEADER_BYTES + Math.floor(rand() * (damaged.length - HEADER_BYTES));
      damaged[pos]! ^= 1 + Math.floor(rand() * 255);
      const rec = placed.find((p) => p.position.offset <= pos && pos < p.next.offset);
      if (rec) hits.add(rec.seq);
      else labelsHit = true;
    }
    await writeFile(file, damaged);
    const { observer, events } = recordingObserver();
    const store = await openWal(dir, { observer });
    const seqs = await readSeqs(store.token('alpha'));
    const expected = Array.from({ length: 50 }, (_, i) => i + 1).filter((s) => !hits.has(s));
    // A hit on the last record is a torn tail; every record not hit must be readable.
    t.same(seqs.filter((s) => !hits.has(s)), expected, `round ${round}: hits ${[...hits]}${labelsHit ? ' and the label set' : ''}`);
    t.ok(seqs.every((s) => !hits.has(s)), 'no damaged record is delivered');
    const torn = hits.has(50) ? 1 : 0;
    t.equal(lostEntries(events), hits.size - torn, 'the lost entries are counted exactly');
    await store.close();
  }
});

t.test('a segment with a damaged header costs the header: its records are read and delivered', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 60, { segmentMaxBytes: 4096 });
  const files = await segmentFiles(dir);
  t.ok(files.length >= 3);
  const victim = join(dir, 'alpha', files[1]!);
  const fh = await open(victim, 'r+');
  await fh.write(Buffer.from('XXXX'), 0, 4, 0);
  await fh.close();

  const { observer, events } = recordingObserver();
  const store = await openWal(dir, { observer, segmentMaxBytes: 4096 });
  t.same(await readSeqs(store.token('alpha')), placed.map((p) => p.seq), 'every record, the damaged segment’s included');
  t.notOk((await readdir(join(dir, 'alpha'))).some((n) => n.endsWith('.damaged')), 'nothing set aside');
  t.match(events.damage, [{ segment: Number(files[1]!.slice(0, 16)), offset: 0, entries: 0, reason: /bad magic/ }], 'the header damage is reported, nothing lost');
  t.same(await store.token('beta').append(entries([payload(1)])), { firstSeq: 1, lastSeq: 1 });
  await store.close();
});

t.test('a missing, empty or garbage cursor restarts delivery from the oldest segment', async (t) => {
  for (const damage of ['missing', 'empty', 'garbage'] as const) {
    const dir = t.testdir();
    const store = await openWal(dir);
    const wal = store.token('alpha');
    await wal.append(entries([payload(1), payload(2), payload(3)]));
    const { records } = await wal.read(wal.cursor, { maxRecords: 2, maxBytes: 1 << 20 });
    await wal.ack(records[1]!.next, 2);
    await store.close();
    const cursorFile = join(dir, 'alpha', 'cursor.json');
    if (damage === 'missing') await rm(cursorFile);
    else await writeFile(cursorFile, damage === 'empty' ? '' : '{"version":1,"segment":"x"');

    const { observer, events } = recordingObserver();
    const reopened = await openWal(dir, { observer });
    t.same(await readSeqs(reopened.token('alpha')), [1, 2, 3], `${damage}: redelivered from the start`);
    t.equal(events.cursorResets.length, damage === 'missing' ? 0 : 1);
    await reopened.close();
  }
});

t.test('a segment deleted by hand is skipped; delivery goes on with the next one', async (t) => {
  const dir = t.testdir();
  await filled(dir, 60, { segmentMaxBytes: 4096 });
  const files = await segmentFiles(dir);
  await rm(join(dir, 'alpha', files[0]!));
  const store = await openWal(dir, { segmentMaxBytes: 4096 });
  const seqs = await readSeqs(store.token('alpha'));
  t.ok(seqs.length > 0 && seqs.at(-1) === 60, 'the rest is delivered');
  await store.close();
});

t.test('a segment deleted by hand after the cursor is counted, the entries it held exactly; the cursor’s own is reported, as an older cursor would be', async (t) => {
  for (const victim of ['the cursor’s', 'the next'] as const) {
    const dir = t.testdir();
    const store = await openWal(dir, { segmentMaxBytes: 4096 });
    const wal = store.token('alpha');
    for (let i = 1; i <= 60; i++) await wal.append(entries([payload(i, 300)]));
    const { records } = await wal.read(wal.cursor, { maxRecords: 3, maxBytes: 1 << 20 });
    await wal.ack(records[2]!.next, 3);
    const all: number[][] = [];
    for (let pos = wal.cursor; ; ) {
      const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 20 });
      if (r.records.length === 0) break;
      for (const rec of r.records) (all[rec.position.segment] ??= []).push(rec.seq);
      pos = r.next;
    }
    await store.close();
    const segment = victim === 'the cursor’s' ? wal.cursor.segment : wal.cursor.segment + 1;
    const gone = (all[segment] ?? []).filter((seq) => seq > 3);
    t.ok(gone.length > 0);
    await rm(join(dir, 'alpha', segmentFileName(segment)));

    const { observer, events } = recordingObserver();
    const reopened = await openWal(dir, { observer, segmentMaxBytes: 4096 });
    const seqs = await readSeqs(reopened.token('alpha'));
    t.same(seqs, Array.from({ length: 57 }, (_, i) => i + 4).filter((s) => !gone.includes(s)), `${victim}: the rest is delivered`);
    if (victim === 'the cursor’s') {
      // The cursor is now before the oldest segment, as an older cursor restored from a backup
      // is: the entries between cannot be told delivered or lost, and are reported, not counted.
      t.match(events.damage, [{ entries: 0, reason: new RegExp(`entries ${gone[0]}-${gone.at(-1)} are not on disk: delivered under a later cursor if this one was restored from a backup, lost if their segments were deleted by hand`) }], `${victim}: reported`);
      t.equal(reopened.token('alpha').stats().corruptRecords, 0);
    } else {
      t.match(events.damage, [{ entries: gone.length, reason: new RegExp(`entries ${gone[0]}-${gone.at(-1)} are not on disk`) }], `${victim}: counted`);
      t.equal(reopened.token('alpha').stats().corruptRecords, gone.length);
    }
    t.equal(events.cursorResets.length, 0, `${victim}: the cursor still agrees with the segments around it`);
    await reopened.close();
  }
});

t.test('damage in the last segment does not hide damage in the segments before it', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 40, { segmentMaxBytes: 4096 });
  const segments = [...new Set(placed.map((p) => p.position.segment))];
  t.ok(segments.length >= 3);
  const hit = [placed.find((p) => p.position.segment === segments[0])!, placed.filter((p) => p.position.segment === segments.at(-1)).at(-2)!];
  for (const rec of hit) await flip(fileOf(dir, rec.position), rec.position.offset + 24 + 40);
  const { observer, events } = recordingObserver();
  const store = await openWal(dir, { observer, segmentMaxBytes: 4096 });
  t.equal((await readSeqs(store.token('alpha'))).length, 38);
  t.equal(lostEntries(events), 2, 'both damaged records counted, once each');
  t.equal(store.token('alpha').stats().corruptRecords, 2);
  await store.close();
});

t.test('segments already passed by a cursor that agrees with them are deleted at open (crash between cursor and delete)', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 60, { segmentMaxBytes: 4096 });
  const files = await segmentFiles(dir);
  const cursorSegment = Number(files[2]!.slice(0, 16));
  const firstThere = placed.find((p) => p.position.segment === cursorSegment)!;
  await writeFile(join(dir, 'alpha', 'cursor.json'), JSON.stringify({ version: 1, segment: cursorSegment, offset: firstThere.position.offset, acked_seq: firstThere.seq - 1 }));
  const store = await openWal(dir, { segmentMaxBytes: 4096 });
  t.same(await segmentFiles(dir), files.slice(2));
  t.equal((await readSeqs(store.token('alpha')))[0], firstThere.seq);
  await store.close();
});

t.test('a cursor that does not agree with the segments deletes nothing and delivery restarts at the oldest', async (t) => {
  const dir = t.testdir();
  await filled(dir, 60, { segmentMaxBytes: 4096 });
  const files = await segmentFiles(dir);
  const cursorSegment = Number(files[2]!.slice(0, 16));
  await writeFile(join(dir, 'alpha', 'cursor.json'), JSON.stringify({ version: 1, segment: cursorSegment, offset: HEADER_BYTES, acked_seq: 0 }));
  const { observer, events } = recordingObserver();
  const store = await openWal(dir, { segmentMaxBytes: 4096, observer });
  t.same(await segmentFiles(dir), files, 'nothing deleted');
  t.same(await readSeqs(store.token('alpha')), Array.from({ length: 60 }, (_, i) => i + 1));
  t.match(events.cursorResets, [/the record at offset 64 of segment \d+ has seq \d+, not 1/]);
  t.equal(lostEntries(events), 0);
  await store.close();
});

t.test('an empty segment file left by a crash before its header was complete is ignored', async (t) => {
  const dir = t.testdir();
  const placed = await filled(dir, 3);
  await writeFile(join(dir, 'alpha', `${segmentFileName(2)}.tmp`), Buffer.alloc(10));
  await truncate(join(dir, 'alpha', segmentFileName(1)), placed[1]!.next.offset);
  const store = await openWal(dir);
  t.same(await readSeqs(store.token('alpha')), [1, 2]);
  t.notOk((await readdir(join(dir, 'alpha'))).some((n) => n.endsWith('.tmp')), 'temp files removed');
  await store.close();
});

t.test('a header whose seqs are near their end refuses the appends that would pass it, and answers them', async (t) => {
  const dir = t.testdir({ alpha: {} });
  const firstSeq = MAX_U48 - 2;
  await writeFile(join(dir, 'alpha', segmentFileName(1)), encodeHeader({ segment: 1, createdAtMs: Date.now(), firstSeq }));
  const store = await openWal(dir);
  const wal = store.token('alpha');
  await t.rejects(wal.append(entries([payload(1), payload(2), payload(3), payload(4)])), { code: 'WAL_UNAVAILABLE', message: /seqs are exhausted/ });
  t.same(await wal.append(entries([payload(1), payload(2)])), { firstSeq, lastSeq: firstSeq + 1 }, 'what fits is written');
  t.same(await readSeqs(wal), [firstSeq, firstSeq + 1]);
  await store.close();
});
