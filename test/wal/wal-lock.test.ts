import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { holderIsDead, kernelBootId, lockWalRoot } from '../../src/wal/wal-lock.js';
import { spawnTs } from '../support/child.js';
import { openWal } from '../support/wal.js';

const WORKER = fileURLToPath(new URL('../fixtures/wal-worker.ts', import.meta.url));
const BOOT_ID = kernelBootId();

t.test('after SIGKILL the lock is taken at once, without waiting for it to go stale; a live holder keeps it', { skip: BOOT_ID === null && 'no kernel boot id here' }, async (t) => {
  const root = t.testdir();
  const holder = spawnTs(WORKER, [root, 'hold']);
  await holder.waitForLine(/^open$/);
  t.equal(await holderIsDead(root), false, 'a live holder is not dead');
  await t.rejects(openWal(root, { lockStaleSeconds: 2 }), { code: 'LOGSTACK_ERR_WAL_LOCKED' }, 'and keeps its lock');
  holder.proc.kill('SIGKILL');
  await holder.exited;
  t.equal(await holderIsDead(root), true, 'its socket is refused once it is dead');
  const startedAt = Date.now();
  // Staleness alone would take 600 s here.
  const store = await openWal(root, { lockStaleSeconds: 600 });
  t.ok(Date.now() - startedAt < 30_000, `taken in ${Date.now() - startedAt} ms`);
  await store.close();
});

t.test('a holder whose event loop stalls past the stale time keeps its lock: a second process gives up and removes nothing', { skip: BOOT_ID === null && 'no kernel boot id here' }, async (t) => {
  const root = t.testdir();
  const resume = join(await mkdtemp(join(tmpdir(), 'wal-stall-')), 'resume');
  t.teardown(() => rm(dirname(resume), { recursive: true, force: true }));
  // lock_stale_seconds is 2 in the worker.
  const holder = spawnTs(WORKER, [root, 'stall', resume]);
  t.teardown(() => void holder.proc.kill('SIGKILL'));
  await holder.waitForLine(/^stalling$/);
  const lock = await stat(join(root, '.lock'));
  while (Date.now() - (await stat(join(root, '.lock'))).mtimeMs < 3000) await new Promise((resolve) => setTimeout(resolve, 250));
  t.equal((await stat(join(root, '.lock'))).mtimeMs, lock.mtimeMs, 'the stalled holder refreshed nothing: its lock is 3 s old');

  const second = spawnTs(WORKER, [root, 'hold']);
  t.teardown(() => void second.proc.kill('SIGKILL'));
  // It either opens the WAL (took the lock over) or exits: whichever comes first.
  const opened = await second.waitForLine(/^open$/).then(
    () => true,
    () => false,
  );
  t.notOk(opened, 'the second process does not open the WAL');
  if (opened) second.proc.kill('SIGKILL');
  t.not((await second.exited).code, 0, 'it stops');
  t.match(second.stderr(), /LOGSTACK_ERR_WAL_LOCKED/);
  t.equal((await stat(join(root, '.lock'))).ino, lock.ino, "the holder's lock is still there");
  t.equal(JSON.parse(await readFile(join(root, '.lock.owner'), 'utf8')).pid, holder.proc.pid, 'and still names the holder');

  await writeFile(resume, '');
  await holder.waitForLine(/^resumed$/);
  // Its next refreshes (every second) find the lock still its own.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  t.equal(holder.proc.exitCode, null, 'the holder runs on');
  t.notOk(holder.lines.includes('lost'), 'it never lost its lock');
  t.ok((await stat(join(root, '.lock'))).mtimeMs > lock.mtimeMs, 'and refreshes it again');
});

t.test('a holder is dead only on proof: same kernel, this very lock, its socket refused', { skip: BOOT_ID === null && 'no kernel boot id here' }, async (t) => {
  // Short: the test binds sockets by their path, unlike LogStack.
  const root = await mkdtemp(join(tmpdir(), 'wal-lock-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, '.lock'));
  const ino = (await stat(join(root, '.lock'))).ino;
  const owner = (fields: Record<string, unknown>) => writeFile(join(root, '.lock.owner'), JSON.stringify({ boot_id: BOOT_ID, lock_ino: ino, socket: '.lock.sock', pid: 1, ...fields }));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(root, '.lock.sock'), resolve));

  await owner({});
  t.equal(await holderIsDead(root), false, 'its socket answers: alive');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.equal(await holderIsDead(root), false, 'no socket file at all proves nothing');

  // A killed process leaves its socket file behind, and connecting to it is refused.
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(join(root, 'dead.sock'))}, () => process.kill(process.pid, 'SIGKILL'))`]);
  await owner({ socket: 'dead.sock' });
  t.equal(await holderIsDead(root), true, 'a socket left by a killed process is refused: dead');
  await owner({ socket: 'dead.sock', boot_id: 'another-kernel' });
  t.equal(await holderIsDead(root), false, 'another kernel (a shared volume): unknown, so not dead');
  await owner({ socket: 'dead.sock', lock_ino: ino + 1 });
  t.equal(await holderIsDead(root), false, 'an owner file of an earlier lock: not this holder');
  await owner({ socket: null });
  t.equal(await holderIsDead(root), false, 'no socket announced: not provable');
});

t.test('what sits at the owner file’s path is read without blocking: a FIFO, a folder or an oversized file there proves nothing, and a stale lock is still taken', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'wal-lock-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, '.lock'));
  // And a folder where the liveness socket goes: the lock is held without one.
  await mkdir(join(root, '.lock.sock'));
  const past = new Date(Date.now() - 60_000);
  for (const [what, make] of [
    ['a FIFO', () => spawnSync('mkfifo', [join(root, '.lock.owner')])],
    ['a folder', () => mkdir(join(root, '.lock.owner'))],
    ['5 kB of text', () => writeFile(join(root, '.lock.owner'), ' '.repeat(5000))],
  ] as const) {
    await rm(join(root, '.lock.owner'), { recursive: true, force: true });
    await make();
    t.equal(await holderIsDead(root), false, `${what}: not provably dead`);
    await mkdir(join(root, '.lock'), { recursive: true });
    await utimes(join(root, '.lock'), past, past);
    const waits: string[] = [];
    const release = await lockWalRoot({ root, staleMs: 2_000, onCompromised: () => {}, onWait: (holder) => waits.push(holder) });
    t.same(waits, [], `${what}: a lock stale for a minute is taken without waiting`);
    await release();
  }
});

t.test('a start that finds a fresh lock of a holder it cannot ask says once that it waits, then takes the lock when it goes stale', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'wal-lock-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, '.lock'));
  const waits: string[] = [];
  const started = Date.now();
  const release = await lockWalRoot({ root, staleMs: 2_000, onCompromised: () => {}, onWait: (holder) => waits.push(holder) });
  t.same(waits, ['unknown'], 'announced once');
  t.ok(Date.now() - started >= 1_500, 'waited for the lock to go stale');
  await release();
});
