import { lstat, open, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CURSOR_FILE, CursorFile, readCursor } from '../../src/wal/cursor-file.js';

const cursor = (n: number) => ({ segment: 3, offset: 64 + n, ackedSeq: 100 + n });

t.test('the cursor file is made once with two slots; writes alternate between them in place, and the latest is read', async (t) => {
  const dir = t.testdir();
  const file = new CursorFile(dir);
  await file.prepare(await readCursor(dir));
  t.same(await readCursor(dir), { kind: 'none' }, 'a new file holds no cursor: nothing was delivered');
  const { ino, size } = await stat(join(dir, CURSOR_FILE));
  t.equal(size, 8192, 'two slots of 4 KiB');
  for (let n = 1; n <= 5; n++) {
    await file.write(cursor(n));
    t.match(await readCursor(dir), { kind: 'ok', cursor: cursor(n), generation: n });
  }
  const after = await stat(join(dir, CURSOR_FILE));
  t.same([after.ino, after.size], [ino, size], 'the same file, the same blocks: written in place');
  await file.close();
});

t.test('a write torn in its slot leaves the previous cursor, read from the other slot', async (t) => {
  const dir = t.testdir();
  const file = new CursorFile(dir);
  await file.prepare(await readCursor(dir));
  await file.write(cursor(1));
  await file.write(cursor(2));
  await file.close();
  // Generation 2 is in the first slot: tear it in the middle.
  const fh = await open(join(dir, CURSOR_FILE), 'r+');
  await fh.write(Buffer.from('5'), 0, 1, 40);
  await fh.close();
  t.match(await readCursor(dir), { kind: 'ok', cursor: cursor(1), generation: 1 });
});

t.test('the previous release’s cursor is read, and replaced by the slotted file when the WAL opens', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, CURSOR_FILE), `${JSON.stringify({ version: 1, segment: 3, offset: 65, acked_seq: 101 })}\n`);
  const read = await readCursor(dir);
  t.same(read, { kind: 'ok', cursor: cursor(1), generation: 0, walId: null });
  const file = new CursorFile(dir);
  await file.prepare(read);
  t.equal((await stat(join(dir, CURSOR_FILE))).size, 8192);
  t.match(await readCursor(dir), { kind: 'ok', cursor: cursor(1) }, 'the same cursor, in its new file');
  await file.write(cursor(2));
  t.match(await readCursor(dir), { kind: 'ok', cursor: cursor(2) });
  await file.close();
});

t.test('unreadable cursors say why; a missing file is not a cursor of none', async (t) => {
  const dir = t.testdir();
  t.same(await readCursor(dir), { kind: 'missing' });
  for (const [body, reason] of [
    ['', /empty/],
    ['{"version":1,"segment":"x"', /not JSON/],
    ['{"version":7}', /unknown cursor version/],
    [JSON.stringify({ version: 1, segment: 2 ** 53, offset: 64, acked_seq: 0 }), /not whole numbers|out of range/],
    [JSON.stringify({ version: 1, segment: 2 ** 49, offset: 64, acked_seq: 0 }), /out of range/],
  ] as const) {
    await writeFile(join(dir, CURSOR_FILE), body);
    t.match(await readCursor(dir), { kind: 'invalid', reason }, JSON.stringify(body));
  }
  const file = new CursorFile(dir);
  await file.prepare({ kind: 'none' });
  await file.write(cursor(1));
  const bytes = await readFile(join(dir, CURSOR_FILE));
  bytes[4096 + 30]! ^= 0x01;
  bytes[30]! ^= 0x01;
  await writeFile(join(dir, CURSOR_FILE), bytes);
  t.match(await readCursor(dir), { kind: 'invalid', reason: /slot \d: (CRC mismatch|not JSON)/ }, 'both slots damaged');
  await file.close();
});

t.test('a link at the cursor file or its temp file is never written through: the cursor gets a file of its own', async (t) => {
  const dir = t.testdir({ wal: {}, outside: { 'cursor.json': '', 'other': 'not the WAL’s\n' } });
  const wal = join(dir, 'wal');
  // A slotted cursor file outside the WAL, linked in as its cursor.
  const outside = new CursorFile(join(dir, 'outside'));
  await outside.prepare({ kind: 'missing' });
  await outside.write(cursor(1));
  await outside.close();
  const before = await readFile(join(dir, 'outside', CURSOR_FILE));
  await symlink(join(dir, 'outside', CURSOR_FILE), join(wal, CURSOR_FILE));
  await symlink(join(dir, 'outside', 'other'), join(wal, `${CURSOR_FILE}.tmp`));

  const file = new CursorFile(wal);
  await file.prepare(await readCursor(wal));
  await file.write(cursor(2));
  await file.close();
  t.ok((await lstat(join(wal, CURSOR_FILE))).isFile(), 'the link is replaced by a file');
  t.match(await readCursor(wal), { kind: 'ok', cursor: cursor(2) });
  t.same(await readFile(join(dir, 'outside', CURSOR_FILE)), before, 'the file the link pointed at is untouched');
  t.equal(await readFile(join(dir, 'outside', 'other'), 'utf8'), 'not the WAL’s\n', 'so is the one the temp link pointed at');
});
