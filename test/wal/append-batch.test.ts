import t from 'tap';
import { appendEntry } from '../../src/loki/entry-codec.js';
import { AppendBatchBuilder, entryRecordBytes, labelSetRecordBytes } from '../../src/wal/append-batch.js';
import { MAX_LABEL_SET_BYTES, MAX_WRITTEN_FRAME_BYTES } from '../../src/wal/segment-format.js';
import { entries, openWal, payload, recordingRoom } from '../support/wal.js';

const room = (bytes: number) => recordingRoom(bytes, 'alpha');

const entry = (i: number, labels = '{app="a"}') => ({ labels, line: 'x'.repeat(20), seconds: 1_700_000_000, nanos: 1 + (i % 100), structuredMetadata: [] });

t.test('a batch costs a record per entry and two per label set; it is refused the entry it would pass its room, before that entry is written', async (t) => {
  const one = new AppendBatchBuilder();
  appendEntry(one, entry(0));
  const perEntry = one.build().walBytes - labelSetRecordBytes(Buffer.byteLength('{app="a"}'));
  t.equal(perEntry, entryRecordBytes(one.build().data.length));

  const first = perEntry + labelSetRecordBytes(9);
  const exact = room(first + 9 * perEntry);
  const builder = new AppendBatchBuilder(exact);
  for (let i = 0; i < 10; i++) appendEntry(builder, entry(i));
  t.equal(builder.build().walBytes, first + 9 * perEntry, 'ten entries fit a room of exactly their bound');
  t.same(exact.asked, [], 'the room was never asked while within it');

  const short = room(first + 9 * perEntry - 1);
  const over = new AppendBatchBuilder(short);
  t.throws(() => {
    for (let i = 0; i < 10; i++) appendEntry(over, entry(i));
  }, { code: 'LOGSTACK_ERR_WAL_QUOTA_EXCEEDED' });
  t.equal(over.entries, 9, 'the tenth entry was refused before it was written');
  t.same(short.asked, [first + 9 * perEntry], 'the WAL was asked once, for the batch with it');
});

t.test('what a batch says it may cost bounds what the WAL writes for it', async (t) => {
  const store = await openWal(t.testdir());
  const wal = store.token('alpha');
  for (const [n, labelSets] of [[1, 1], [50, 3], [2000, 40]] as const) {
    const builder = new AppendBatchBuilder();
    for (let i = 0; i < n; i++) appendEntry(builder, entry(i, `{app="a${i % labelSets}", pad="${'p'.repeat(i % 97)}"}`));
    const batch = builder.build();
    const before = wal.stats().diskBytes;
    await wal.append(batch);
    const written = wal.stats().diskBytes - before;
    t.ok(written <= batch.walBytes, `${n} entries over ${labelSets} label sets: ${written} bytes written ≤ ${batch.walBytes}`);
  }
  // A label set the active segment holds is not written again.
  const before = wal.stats().diskBytes;
  await wal.append(entries([payload(1, 20)]));
  const firstTime = wal.stats().diskBytes - before;
  const again = wal.stats().diskBytes;
  await wal.append(entries([payload(2, 20)]));
  t.ok(wal.stats().diskBytes - again < firstTime, 'the second append of a label set costs its entry only');
  await store.close();
});

t.test('an entry or a label set one byte over what a record holds is refused before it is written; at the bound it is taken', async (t) => {
  const entryBound = MAX_WRITTEN_FRAME_BYTES - entryRecordBytes(0);
  const atBound = new AppendBatchBuilder();
  atBound.claim('{app="a"}', entryBound);
  t.equal(atBound.entries, 1, `an entry of ${entryBound} bytes is taken`);
  const over = new AppendBatchBuilder();
  t.throws(() => over.claim('{app="a"}', entryBound + 1), { code: 'LOGSTACK_ERR_WAL_RECORD_TOO_LARGE', status: 413 });
  t.equal(over.entries, 0, 'one byte more is refused, and nothing of it is held');

  // `{a="…"}`: 6 bytes around the value.
  const labels = (bytes: number) => `{a="${'v'.repeat(bytes - 6)}"}`;
  const fits = new AppendBatchBuilder();
  appendEntry(fits, { ...entry(0), labels: labels(MAX_LABEL_SET_BYTES) });
  t.equal(fits.build().labelSetBytes[0], MAX_LABEL_SET_BYTES, 'a label set of the bound is taken');
  t.throws(() => appendEntry(new AppendBatchBuilder(), { ...entry(0), labels: labels(MAX_LABEL_SET_BYTES + 1) }), { code: 'LOGSTACK_ERR_WAL_RECORD_TOO_LARGE', status: 413 });
});
