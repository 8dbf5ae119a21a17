import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createDiskWalStore } from '../../src/wal/disk-wal-store.js';
import { entries, openWal, payload, recordingObserver, walOptions } from '../support/wal.js';
import { walCompliance } from './wal-compliance.js';

walCompliance(t, {
  open: (dir, opts = {}) =>
    openWal(dir, {
      ...(opts.segmentMaxBytes ? { segmentMaxBytes: opts.segmentMaxBytes } : {}),
      ...(opts.quotaBytes ? { quotaBytes: () => opts.quotaBytes! } : {}),
    }),
});

t.test('concurrent appends share fsyncs (group commit)', async (t) => {
  const { observer, events } = recordingObserver();
  const store = await openWal(t.testdir(), { observer });
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.token('alpha').append(entries([payload(i)]))));
  t.ok(events.fsyncs < 200, `${events.fsyncs} fsyncs for 200 appends`);
  t.ok(events.fsyncs >= 1);
  await store.close();
});

t.test('token directories are named by key name, never by token', async (t) => {
  const dir = t.testdir();
  const store = await openWal(dir, { tokens: ['payments-api', 'svc:odd', '..'] });
  await store.token('..').append(entries([payload(1)]));
  await store.close();
  t.same((await readdir(dir)).sort(), ['%2E.', 'payments-api', 'svc%3Aodd'], 'the lock is released on close');
  const reopened = await openWal(dir, { tokens: [] });
  t.same(reopened.tokens().map((w) => w.name).sort(), ['..', 'payments-api', 'svc:odd'].sort(), 'directories left by old keys are still opened');
  t.equal(reopened.token('..').stats().pendingEntries, 1);
  await reopened.close();
});

t.test('a non-empty active segment is rotated at its age limit, then deleted once delivered', async (t) => {
  let now = 1_000_000;
  const dir = t.testdir();
  const store = await openWal(dir, { segmentMaxAgeSeconds: 60, clock: () => now });
  const wal = store.token('alpha');
  await wal.append(entries([payload(1)]));
  const { records } = await wal.read(wal.cursor, { maxRecords: 10, maxBytes: 1 << 20 });
  await wal.ack(records[0]!.next, records[0]!.seq);
  t.equal(wal.stats().segments, 1, 'the delivered active segment stays until rotation');
  now += 61_000;
  await (wal as unknown as { rotateIfOld(): Promise<void> }).rotateIfOld();
  t.equal(wal.stats().segments, 1, 'rotated, and the delivered segment deleted');
  t.equal((await readdir(join(dir, 'alpha'))).filter((n) => n.endsWith('.wal')).length, 1);
  t.equal(wal.stats().pendingEntries, 0);
  await store.close();
});

t.test('the disk reserve refuses appends with 503', async (t) => {
  const store = createDiskWalStore(walOptions(t.testdir(), { diskReservePercent: 99 }));
  await store.open();
  t.equal(store.disk().ok, false);
  await t.rejects(store.token('alpha').append(entries([payload(1)])), { code: 'LOGSTACK_ERR_WAL_DISK_RESERVE', status: 503 });
  await store.close();
});

t.test('acknowledgements racing rotations never see a cursor beyond the durable end', async (t) => {
  const store = await openWal(t.testdir(), { segmentMaxBytes: 2048 });
  const wal = store.token('alpha');
  let writers = 4;
  const writes = Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; i < 150; i++) await wal.append(entries([payload(w * 1000 + i, 700)]));
    writers--;
  });
  let acked = 0;
  while (writers > 0 || wal.stats().pendingEntries > 0) {
    const { records } = await wal.read(wal.cursor, { maxRecords: 1000, maxBytes: 1 << 20 });
    const last = records.at(-1);
    if (last) {
      await wal.ack(last.next, last.seq);
      acked += records.length;
    } else {
      await new Promise((r) => setImmediate(r));
    }
  }
  await Promise.all(writes);
  t.equal(acked, 600, 'every record acknowledged, none refused');
  await store.close();
});

t.test('a token directory that cannot be opened leaves that token refusing appends; the others open and work', async (t) => {
  const dir = t.testdir({ alpha: 'a file where the directory should be' });
  const { observer, events } = recordingObserver();
  const store = await openWal(dir, { observer });
  const alpha = store.token('alpha');
  t.match(alpha.stats(), { failed: /could not open its directory \(EEXIST\)/, pendingEntries: 0 });
  await t.rejects(alpha.append(entries([payload(1)])), { code: 'LOGSTACK_ERR_WAL_UNAVAILABLE', status: 503, message: /alpha.*EEXIST/ });
  t.same((await alpha.read(alpha.cursor, { maxRecords: 10, maxBytes: 1 << 20 })).records, [], 'nothing to deliver');
  t.equal(events.writeFailures.length, 1, 'reported');
  t.same(await store.token('beta').append(entries([payload(1)])), { firstSeq: 1, lastSeq: 1 });
  await store.close();
});

t.test('a folder under the root becomes a token only for a configured key, or as a key no longer configured that left a WAL; the rest is left alone and reported, printably', async (t) => {
  const dir = t.testdir();
  const first = await openWal(dir, { tokens: ['alpha', 'old-key'] });
  await first.token('old-key').append(entries([payload(1)]));
  await first.close();
  await mkdir(join(dir, 'lost+found'));
  await mkdir(join(dir, '%1B%5B31m'));
  await mkdir(join(dir, 'empty-key'));
  await writeFile(join(dir, 'stray\u202efile'), 'x');

  const { observer, events } = recordingObserver();
  const leftovers: string[] = [];
  const store = await openWal(dir, { tokens: ['alpha'], observer: { ...observer, leftoverKey: (name) => void leftovers.push(name) } });
  t.same(store.tokens().map((w) => w.name).sort(), ['alpha', 'old-key']);
  t.same(leftovers, ['old-key'], 'the key no longer configured is reported');
  t.equal(store.token('old-key').stats().pendingEntries, 1, 'and its backlog is there to deliver');
  t.same(
    events.setAside.map((e) => [e.token, e.name]).sort(),
    [
      [null, '%1B%5B31m'],
      [null, 'empty-key'],
      [null, 'lost+found'],
      [null, 'stray\\u{202e}file'],
    ],
  );
  await store.close();
});
