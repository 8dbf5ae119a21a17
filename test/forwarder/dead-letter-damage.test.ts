/**
 * A dead-letter store damaged by a crash, a full volume or a bad disk: nothing in it is lost
 * without a word. A line torn mid-write is cut and kept aside at open, so that the next line is
 * not joined to it; a write that fails (ENOSPC) is cut back; a line that cannot be read is
 * counted and reported, and a replay keeps its file as `.damaged` instead of deleting it. Real
 * files; the full volume is a real tmpfs (mounting needs root: skipped without it).
 */
import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DeadLetterStore } from '../../src/forwarder/dead-letter-store.js';
import { decodeEntryAdapter } from '../../src/loki/entry-codec.js';
import { entryOf } from '../../src/wal/append-batch.js';
import { mountTmpfs } from '../support/tmpfs.js';
import { shipped } from '../support/wal.js';

const payload = (i: number) => shipped({ seconds: 1_700_000_000, nanos: i, labels: '{service="a"}', line: `line ${i}`, structuredMetadata: [] });
const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => payload(from + i));

function recording() {
  const damaged: Array<{ file: string; lines: number; reason: string; keptIn: string }> = [];
  return { damaged, observer: { damaged: (file: string, lines: number, reason: string, keptIn: string) => void damaged.push({ file, lines, reason, keptIn }) } };
}

async function replayed(store: DeadLetterStore): Promise<string[]> {
  const lines: string[] = [];
  await store.replay(async (b) => {
    for (let i = 0; i < b.entries; i++) lines.push(decodeEntryAdapter(entryOf(b, i), '').line);
  });
  return lines;
}

t.test('a line torn by a crash is cut and kept aside at open: the batches written after it are replayed whole', async (t) => {
  const dir = join(t.testdir(), 'dead-letter');
  const first = new DeadLetterStore(dir, 1 << 20);
  await first.open();
  await first.write(batch(0, 10), 400, 'r', 'm', 1);
  const [file] = await readdir(dir);
  // What a crash in the middle of the next write leaves: the start of a line.
  const torn = '{"at":1796254697258,"status":400,"reason":"timestamp_too_old","mess';
  await appendFile(join(dir, file!), torn);

  const verify = new DeadLetterStore(dir, 1 << 20, { readOnly: true });
  await verify.open();
  t.match(await verify.problems(), [/its last line is unterminated \(67 bytes/], 'a read-only open reports it and changes nothing');
  t.equal((await readFile(join(dir, file!), 'utf8')).endsWith(torn), true);

  const { damaged, observer } = recording();
  const store = new DeadLetterStore(dir, 1 << 20, { observer });
  await store.open();
  await store.write(batch(10, 20), 400, 'r', 'm', 2);
  t.equal(await store.count(), 30, 'every entry counted');
  t.match(damaged, [{ file: file!, lines: 1, reason: /unterminated last line \(67 bytes/, keptIn: `${file}.torn` }], 'reported once');
  t.equal(await readFile(join(dir, `${file}.torn`), 'utf8'), torn, 'the cut bytes are kept');
  t.same(await replayed(store), batch(0, 30).map((_, i) => `line ${i}`), 'all 30 entries replayed');
  t.same(damaged.length, 1, 'nothing more to report');
});

t.test('a line that cannot be read is counted at open, and a replay keeps its file as .damaged', async (t) => {
  const dir = join(t.testdir(), 'dead-letter');
  const first = new DeadLetterStore(dir, 1 << 20);
  await first.open();
  await first.write(batch(0, 10), 400, 'r', 'm', 1);
  await first.write(batch(10, 20), 400, 'r', 'm', 2);
  const [file] = await readdir(dir);
  const text = await readFile(join(dir, file!), 'utf8');
  await writeFile(join(dir, file!), `{"\u0000${text.slice(3)}`);

  const verify = new DeadLetterStore(dir, 1 << 20, { readOnly: true });
  await verify.open();
  t.match(await verify.problems(), [/1 line that cannot be read/], 'verify reports it');

  const { damaged, observer } = recording();
  const store = new DeadLetterStore(dir, 1 << 20, { observer });
  await store.open();
  t.equal(await store.count(), 20, 'the readable lines are counted');
  t.match(damaged, [{ file: file!, lines: 1 }], 'reported at open');
  t.same(await replayed(store), batch(10, 20).map((_, i) => `line ${10 + i}`), 'the readable batch is replayed');
  t.same(await readdir(dir), [`${file}.damaged`], 'the file is kept, renamed, never deleted');
  t.match(damaged[1], { lines: 0, reason: /1 line could not be replayed/, keptIn: `${file}.damaged` }, 'the replay says so, without counting the line twice');
});

const volume = mountTmpfs(128 * 1024);
t.test('a write that fails for a full volume is cut back: the next write is read whole', { skip: volume === null ? 'needs to mount a tmpfs (root); skipped here' : false }, async (t) => {
  t.teardown(() => volume!.unmount());
  const dir = join(volume!.path, 'dead-letter');
  const store = new DeadLetterStore(dir, 1 << 30);
  await store.open();
  await store.write(batch(0, 1), 400, 'r', 'm', 1);
  // Leave a few hundred bytes: the next batch of 200 entries needs far more.
  for (let i = 0; ; i++) {
    try {
      await writeFile(join(volume!.path, `filler${i}`), Buffer.alloc(4096));
    } catch {
      break;
    }
  }
  await t.rejects(store.write(batch(1, 200), 400, 'r', 'm', 2), { code: 'ENOSPC' });
  for (const f of await readdir(volume!.path)) if (f.startsWith('filler')) await rm(join(volume!.path, f));
  await store.write(batch(201, 5), 400, 'r', 'm', 3);
  const reopened = new DeadLetterStore(dir, 1 << 30, { readOnly: true });
  await reopened.open();
  t.same(await reopened.problems(), [], 'no damaged line on disk');
  t.equal(await reopened.count(), 6);
  t.same(await replayed(store), [...batch(0, 1), ...batch(201, 5)].map((p) => decodeEntryAdapter(p.entry, p.labels).line), 'both written batches replayed');
});
