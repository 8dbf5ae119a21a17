import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { decodeEntryAdapter, encodeEntry } from '../../src/loki/entry-codec.js';
import type { LokiEntry } from '../../src/loki/entry.js';
import { batchOf } from '../../src/wal/append-batch.js';
import { backlogOf, isLockHeld, locateWal, snapshotToken, walkRecords, type TokenLocation, type WalEvent } from '../../src/wal/wal-inspector.js';
import { openWal } from '../support/wal.js';

function entry(i: number): LokiEntry {
  return { seconds: 1_700_000_000 + i, nanos: i * 7, labels: '{env="prod", service="payments-api"}', line: `payment ${i} ✓ ${'x'.repeat(200)}`, structuredMetadata: [['order_id', `O-${i}`]] };
}

const alpha = (root: string): TokenLocation => ({ name: 'alpha', dir: join(root, 'alpha') });

const batch = (...items: LokiEntry[]) => batchOf(items.map((e) => ({ labels: e.labels, entry: encodeEntry(e) })));

t.test('backlog figures match what the store reports, across segments, acks and rotations', async (t) => {
  const root = t.testdir();
  let now = 1_800_000_000_000;
  const store = await openWal(root, { segmentMaxBytes: 4096, clock: () => (now += 10) });
  const wal = store.token('alpha');
  for (let i = 1; i <= 40; i += 2) await wal.append(batch(entry(i), entry(i + 1)));

  for (const ackTo of [0, 7, 16, 31, 40]) {
    if (ackTo > 0) {
      const { records } = await wal.read(wal.cursor, { maxRecords: ackTo - wal.stats().ackedSeq, maxBytes: 1 << 20 });
      await wal.ack(records.at(-1)!.next, records.at(-1)!.seq);
    }
    const stats = wal.stats();
    const snapshot = await snapshotToken(alpha(root));
    const backlog = await backlogOf(snapshot);
    t.same(
      {
        segments: snapshot.survey.segments.length,
        diskBytes: snapshot.survey.segments.reduce((n, s) => n + s.bytes, 0),
        pendingEntries: backlog.entries,
        pendingBytes: backlog.bytes,
        oldestPendingAppendedAtMs: backlog.oldestAppendedAtMs,
      },
      {
        segments: stats.segments,
        diskBytes: stats.diskBytes,
        pendingEntries: stats.pendingEntries,
        pendingBytes: stats.pendingBytes,
        oldestPendingAppendedAtMs: stats.oldestPendingAppendedAtMs,
      },
      `acknowledged up to seq ${ackTo}`,
    );
    t.equal(backlog.lostEntries, 0);
  }
  await store.close();
});

t.test('walking from a position yields every record after it, in order and byte for byte, across segments', async (t) => {
  const root = t.testdir();
  const store = await openWal(root, { segmentMaxBytes: 4096 });
  const wal = store.token('alpha');
  for (let i = 1; i <= 30; i++) await wal.append(batch(entry(i)));
  const { records } = await wal.read(wal.cursor, { maxRecords: 5, maxBytes: 1 << 20 });
  await store.close();

  const snapshot = await snapshotToken(alpha(root));
  t.ok(snapshot.survey.segments.length >= 3, `${snapshot.survey.segments.length} segments`);
  const seen: Array<[number, LokiEntry]> = [];
  for await (const e of walkRecords(snapshot, records[4]!.position, 4)) {
    if (e.kind === 'record') seen.push([e.seq, decodeEntryAdapter(e.entry, e.labels)]);
    else t.equal(e.kind, 'segment', 'only headers and records in a clean WAL');
  }
  t.same(
    seen,
    Array.from({ length: 26 }, (_, i) => [i + 5, entry(i + 5)]),
  );
});

t.test('a WAL root lists its token directories by key name; a token directory is taken as it is', async (t) => {
  const root = t.testdir();
  const store = await openWal(root, { tokens: ['svc:odd', 'alpha'] });
  await store.close();
  const located = await locateWal(root);
  t.same(located, { root, tokens: [{ name: 'alpha', dir: join(root, 'alpha') }, { name: 'svc:odd', dir: join(root, 'svc%3Aodd') }], ignored: [] });
  t.same(await locateWal(join(root, 'svc%3Aodd')), { root, tokens: [{ name: 'svc:odd', dir: join(root, 'svc%3Aodd') }], ignored: [] });

  const elsewhere = t.testdir({ 'notes.txt': 'hello' });
  t.match(await locateWal(elsewhere), /is neither a WAL root nor a token directory/);
  t.match(await locateWal(join(elsewhere, 'missing')), /is not a directory/);
});

t.test('the lock counts as held while a store has the root open, and not once it closed', async (t) => {
  const root = t.testdir();
  const store = await openWal(root);
  t.equal(await isLockHeld(root, Date.now()), true);
  t.equal(await isLockHeld(root, Date.now() + 3_600_000), false, 'a lock not refreshed for an hour is a dead holder');
  await store.close();
  t.equal(await isLockHeld(root, Date.now()), false);
});

async function collect(events: AsyncIterable<WalEvent>): Promise<WalEvent[]> {
  const out: WalEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

t.test('a segment cut shorter after the snapshot (a running writer undid a failed write) ends in a torn tail', async (t) => {
  const root = t.testdir();
  const store = await openWal(root);
  const wal = store.token('alpha');
  for (let i = 1; i <= 10; i++) await wal.append(batch(entry(i)));
  const { records } = await wal.read(wal.cursor, { maxRecords: 10, maxBytes: 1 << 20 });
  await store.close();
  const snapshot = await snapshotToken(alpha(root));
  const tenth = records[9]!.position;
  await truncate(snapshot.survey.segments[0]!.file, tenth.offset + 10);

  const events = await collect(walkRecords(snapshot, { segment: 1, offset: 0 }, 0));
  t.same(
    events.flatMap((e) => (e.kind === 'record' ? [e.seq] : [])),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  t.match(events.at(-1), { kind: 'torn-tail', segment: 1, offset: tenth.offset });
});
