/**
 * Things that are not the WAL's where the WAL puts its own files: a folder or a FIFO named
 * `cursor.json`, a file named `dead-letter`, a folder or a FIFO named like a dead-letter file.
 * Left in place they stop the key (a folder cannot be read or replaced, a FIFO blocks whoever
 * opens it), so the service sets them aside, renamed and kept, with a warning, and `logstack wal
 * verify` says so without hanging. The WAL is a real one left by SIGKILL; the service restarts
 * on a damaged copy against a healthy Loki stand-in.
 */
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { KEY, cliVerify, copyOf, crashedWal, serviceRestart, tokenDir } from '../support/crashed-wal.js';

t.setTimeout(300_000);

const base = await crashedWal(t, 50, 200);

const cases: Array<{ name: string; apply: (dir: string) => Promise<void>; slot: string; renamed: string; reason: RegExp }> = [
  {
    name: 'a FIFO named cursor.json',
    apply: async (dir) => {
      await rm(join(dir, 'cursor.json'));
      execFileSync('mkfifo', [join(dir, 'cursor.json')]);
    },
    slot: 'cursor.json',
    renamed: 'cursor.json.set-aside',
    reason: /a FIFO where the cursor file goes/,
  },
  {
    name: 'a folder named cursor.json',
    apply: async (dir) => {
      await rm(join(dir, 'cursor.json'));
      await mkdir(join(dir, 'cursor.json'));
    },
    slot: 'cursor.json',
    renamed: 'cursor.json.set-aside',
    reason: /a folder where the cursor file goes/,
  },
  {
    name: 'a file named dead-letter',
    apply: (dir) => writeFile(join(dir, 'dead-letter'), 'x'),
    slot: 'dead-letter',
    renamed: 'dead-letter.set-aside',
    reason: /a file where the dead-letter folder goes/,
  },
  {
    name: 'a FIFO named like a dead-letter file',
    apply: async (dir) => {
      await mkdir(join(dir, 'dead-letter'));
      execFileSync('mkfifo', [join(dir, 'dead-letter', '0000000000000001.jsonl')]);
    },
    slot: 'dead-letter/0000000000000001.jsonl',
    renamed: 'dead-letter/0000000000000001.jsonl.set-aside',
    reason: /a FIFO named like a dead-letter file/,
  },
  {
    name: 'a folder named like a dead-letter file',
    apply: async (dir) => {
      await mkdir(join(dir, 'dead-letter', '0000000000000009.jsonl'), { recursive: true });
    },
    slot: 'dead-letter/0000000000000009.jsonl',
    renamed: 'dead-letter/0000000000000009.jsonl.set-aside',
    reason: /a folder named like a dead-letter file/,
  },
];

for (const c of cases) {
  t.test(`${c.name}: verify says so and ends, the service starts, sets it aside and delivers everything`, { timeout: 90_000 }, async (t) => {
    const root = await copyOf(t, base);
    const dir = tokenDir(root);
    await c.apply(dir);
    const verify = await cliVerify(root);
    t.equal(verify.code, 1, 'verify ends, and exits 1');
    const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
    t.ok(
      token?.findings?.some((f: { message: string }) => c.reason.test(f.message) && /set aside/.test(f.message)),
      'verify reports it, and that the next start sets it aside',
    );

    const r = await serviceRestart(t, root);
    t.equal(r.flush, 200, 'a flush completes');
    t.same(base.pending.filter((id) => !r.received.has(id)), [], 'every acknowledged entry is delivered');
    t.match(r.logs, c.reason, 'a warning says what was found');
    t.ok(await lstat(join(dir, c.renamed)).catch(() => null), 'kept under its new name');
    const now = await lstat(join(dir, c.slot)).catch(() => null);
    const own = c.slot === 'cursor.json' ? now?.isFile() : c.slot === 'dead-letter' ? now === null || now.isDirectory() : now === null || now.isFile();
    t.ok(own, 'nothing but the WAL’s own file holds the name');
    if (c.slot === 'cursor.json') t.ok(now?.isFile(), 'the cursor is written again');
  });
}
