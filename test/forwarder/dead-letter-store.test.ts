import { spawnSync } from 'node:child_process';
import { appendFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DeadLetterStore } from '../../src/forwarder/dead-letter-store.js';
import { decodeEntryPayload, encodeEntryPayload } from '../../src/loki/entry-codec.js';

const payload = (i: number, line = `line ${i} ✓`) =>
  encodeEntryPayload({ seconds: 1_700_000_000, nanos: i, labels: '{service="a"}', line, structuredMetadata: [['k', `v${i}`]] });

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

t.test('replay hands back byte-identical payloads, oldest first, and empties the store', async (t) => {
  const store = new DeadLetterStore(join(t.testdir(), 'dl'), 1 << 20);
  await store.open();
  const written = [payload(1), payload(2), payload(3)];
  await store.write(written.slice(0, 2), 400, 'r', 'm', 1);
  await store.write(written.slice(2), 400, 'r', 'm', 2);
  const requeued: Buffer[] = [];
  t.equal(await store.replay(async (p) => void requeued.push(...p)), 3);
  t.same(requeued.map((p) => p.toString('hex')), written.map((p) => p.toString('hex')));
  t.same(decodeEntryPayload(requeued[0]!).structuredMetadata, [['k', 'v1']]);
  t.equal(store.entries, 0);
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
  const tricky = encodeEntryPayload({ seconds: 1, nanos: 0, labels: '{s="{\\"s\\":1}"}', line: '{"s":1,"reason":"x"} ]}', structuredMetadata: [['{"s":', ']}']] });
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
  // A second file that blocks whoever reads it until it is written to.
  const fifo = join(dir, '0000000000000002.jsonl');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const reopened = new DeadLetterStore(dir, 1 << 20);
  const opened = await Promise.race([reopened.open().then(() => 'opened'), new Promise((resolve) => setTimeout(() => resolve('blocked'), 5000))]);
  t.equal(opened, 'opened', 'open() returned without reading the files');
  const counted = reopened.count();
  await writeFile(fifo, `${JSON.stringify({ at: 2, status: 400, reason: 'late', message: 'm', entries: [{ s: 1, n: 0, labels: '{a="b"}', line: 'x', sm: [] }] })}\n`);
  t.equal(await counted, 3);
});
