import { appendFile, cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DeadLetterStore } from '../../src/forwarder/dead-letter-store.js';
import { decodeEntryAdapter } from '../../src/loki/entry-codec.js';
import type { ShippedEntry } from '../../src/loki/push-request.js';
import { entryOf } from '../../src/wal/append-batch.js';
import { shipped } from '../support/wal.js';

const payload = (i: number, line = `line ${i} ✓`, labels = '{service="a"}') =>
  shipped({ seconds: 1_700_000_000, nanos: i, labels, line, structuredMetadata: [['k', `v${i}`]] });

t.test('what is written survives a reopen, with counts by reason and samples', async (t) => {
  const dir = join(t.testdir(), 'dead-letter');
  const store = new DeadLetterStore(dir, 1 << 20);
  await store.open();
  await store.write([payload(1), payload(2)], 400, 'timestamp_too_old', 'too old', 1_700_000_000_000);
  await store.write([payload(3)], 413, 'too_large', 'too big', 1_700_000_001_000);
  const reopened = new DeadLetterStore(dir, 1 << 20);
  await reopened.open();
  const s = await reopened.summary();
  t.equal(s.entries, 3);
  t.equal(s.batches, 2);
  t.same(s.reasons, { timestamp_too_old: 2, too_large: 1 });
  t.match(s.samples[0], { status: 413, reason: 'too_large', entries: 1, first: { line: 'line 3 ✓', ts: '1700000000000000003' } });
});

t.test('replay hands back byte-identical entries with their label sets, oldest first, and empties the store', async (t) => {
  const store = new DeadLetterStore(join(t.testdir(), 'dl'), 1 << 20);
  await store.open();
  const written = [payload(1), payload(2), payload(3, 'other', '{service="b"}')];
  await store.write(written.slice(0, 2), 400, 'r', 'm', 1);
  await store.write(written.slice(2), 400, 'r', 'm', 2);
  const requeued: ShippedEntry[] = [];
  t.equal(
    await store.replay(async (batch) => {
      for (let i = 0; i < batch.entries; i++) requeued.push({ labels: batch.labelSets[batch.labelSetOf[i]!]!, entry: entryOf(batch, i) });
    }),
    3,
  );
  t.same(requeued, written);
  t.same(decodeEntryAdapter(requeued[0]!.entry, requeued[0]!.labels).structuredMetadata, [['k', 'v1']]);
  t.equal(store.entries, 0);
});

t.test('a refused batch of many entries of one large label set is stored with the label set once', async (t) => {
  const dir = t.testdir();
  const store = new DeadLetterStore(dir, 1 << 30);
  await store.open();
  const labels = `{big="${'b'.repeat(30_000)}"}`;
  const refused = Array.from({ length: 1000 }, (_, i) => payload(i, 'x', labels));
  await store.write(refused, 400, 'r', 'm', 1);
  const bytes = (await store.summary()).bytes;
  t.ok(bytes < 30_000 + 1000 * 200, `${bytes} bytes for 1,000 entries of a 30 kB label set`);
});

t.test('dead letters written by the previous release, a label set in each entry, are read and replayed', async (t) => {
  const dir = t.testdir();
  await cp(new URL('../fixtures/wal-v1/app/dead-letter/', import.meta.url), dir, { recursive: true });
  const store = new DeadLetterStore(dir, 1 << 20);
  await store.open();
  const s = await store.summary();
  t.match(s, { entries: 3, reasons: { timestamp_too_old: 3 } });
  t.match(s.samples[0]!.first, { labels: '{env="prod", level="WARN", service="shop"}', line: /^order 31 paid with card \*\*\*\*1111/ });
  const requeued: string[] = [];
  await store.replay(async (batch) => {
    for (let i = 0; i < batch.entries; i++) requeued.push(batch.labelSets[batch.labelSetOf[i]!]!);
  });
  t.same(requeued, ['{env="prod", level="WARN", service="shop"}', '{env="prod", level="ERROR", service="shop"}', '{env="prod", level="INFO", service="shop"}']);
});

t.test('past its quota the oldest dead letters are dropped and counted', async (t) => {
  const dir = t.testdir();
  const store = new DeadLetterStore(dir, 64 * 1024);
  await store.open();
  let dropped = 0;
  for (let i = 0; i < 40; i++) dropped += await store.write([payload(i, 'x'.repeat(4000))], 400, 'r', 'm', i);
  const s = await store.summary();
  t.ok(dropped > 0, `${dropped} dropped`);
  t.equal(s.droppedEntries, dropped);
  t.equal(s.entries + dropped, 40);
  t.equal(s.batches, s.entries, 'every batch kept is counted, not only the samples shown');
  t.equal(s.samples.length, 5);
  t.ok(s.bytes <= 64 * 1024);
  t.ok((await readdir(dir)).length > 1);
});

t.test('a line torn by a crash is ignored at open', async (t) => {
  const dir = t.testdir();
  const store = new DeadLetterStore(dir, 1 << 20);
  await store.open();
  await store.write([payload(1)], 400, 'r', 'm', 1);
  await appendFile(join(dir, (await readdir(dir))[0]!), '{"at":2,"status":400,"entr');
  const reopened = new DeadLetterStore(dir, 1 << 20);
  await reopened.open();
  t.equal(await reopened.count(), 1);
});

t.test('counted at open without parsing: lines and labels holding the text of an entry or a reason count right', async (t) => {
  const dir = t.testdir();
  const store = new DeadLetterStore(dir, 1 << 20);
  await store.open();
  const tricky = shipped({ seconds: 1, nanos: 0, labels: '{s="{\\"s\\":1}"}', line: '{"s":1,"reason":"x"} ]}', structuredMetadata: [['{"s":', ']}']] });
  await store.write([tricky, payload(2)], 400, 'line "too" long', '{"s": ]}', 1);
  await store.write([payload(3)], 429, 'rate', 'm', 2);
  const reopened = new DeadLetterStore(dir, 1 << 20);
  await reopened.open();
  t.equal(await reopened.count(), 3);
  t.same((await reopened.summary()).reasons, { 'line "too" long': 2, rate: 1 });
});

t.test('open reads no dead letter: they are counted after it, before any summary', async (t) => {
  const dir = t.testdir();
  const store = new DeadLetterStore(dir, 1 << 20);
  await store.open();
  await store.write([payload(1), payload(2)], 400, 'r', 'm', 1);
  await writeFile(join(dir, '0000000000000002.jsonl'), `${JSON.stringify({ at: 2, status: 400, reason: 'late', message: 'm', entries: [{ s: 1, n: 0, labels: '{a="b"}', line: 'x', sm: [] }] })}\n`);
  const reopened = new DeadLetterStore(dir, 1 << 20);
  await reopened.open();
  t.equal(reopened.entries, 0, 'open() returned without reading the files');
  t.equal(await reopened.count(), 3, 'counted after it');
});
