/**
 * One LogStack process per WAL root. proper-lockfile keeps a lock directory whose mtime the
 * holder refreshes; a lock not refreshed for `staleMs` belongs to a dead process and is taken
 * over.
 *
 * Waiting for staleness made every restart after a crash (an OOM kill, a SIGKILL) refuse
 * requests for `lock_stale_seconds`. So the holder also listens on a Unix socket beside the
 * lock, and names it, with the kernel's boot id and the lock directory's inode, in an owner
 * file. A new process on the same kernel (same boot id: the same machine, or a container on
 * it) that finds the lock connects to that socket: refused, no process holds it any more —
 * the kernel closed it when the holder died, whatever its PID or PID namespace — and the lock
 * is taken at once. A live holder accepts the connection and keeps its lock, however stale its
 * mtime: the kernel completes the connection even while the holder's event loop is stalled
 * (and refreshes nothing), so a stall is never mistaken for a death. A holder on another kernel
 * (a shared volume), or one that has not written its owner file yet, is waited out as before.
 */
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { open, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { logstackError } from '../errors.js';

export interface WalLockOptions {
  readonly root: string;
  readonly staleMs: number;
  /** The lock was lost while held (e.g. the event loop stalled past `staleMs`). */
  readonly onCompromised: (err: Error) => void;
  /** Another holder, not provably dead, has the lock: called once, before waiting for it. */
  readonly onWait?: (holder: 'alive' | 'unknown') => void;
}

export type ReleaseLock = () => Promise<void>;

/** The lock's directory under the WAL root. */
export const LOCK_DIR = '.lock';
const OWNER_FILE = '.lock.owner';
const OWNER_TMP_FILE = `${OWNER_FILE}.tmp`;
const SOCKET_FILE = '.lock.sock';
/** How often a held lock is tried again. */
const RETRY_MS = 500;
/** A socket path holds 108 bytes on Linux, 104 elsewhere, with its NUL. */
const MAX_SOCKET_PATH_BYTES = 103;

interface Owner {
  readonly boot_id: string;
  readonly lock_ino: number;
  readonly socket: string | null;
  readonly pid: number;
}

/** Whether `name`, under a WAL root, is one of the lock's own files: never a key's folder. */
export function isLockFile(name: string): boolean {
  return name === LOCK_DIR || name === OWNER_FILE || name === OWNER_TMP_FILE || name === SOCKET_FILE;
}

/** The kernel's boot id, null where there is none (not Linux). */
export function kernelBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/**
 * A socket's path is at most 103 bytes, and a WAL root may be deeper: through a descriptor of
 * its directory (`/proc/self/fd/N/name`, Linux) any depth fits. Null where neither fits; the
 * descriptor stays open until `close` is called (a bound socket's path must stay valid: node
 * unlinks it on close).
 */
function socketPath(dir: string, name: string): { path: string; close: () => void } | null {
  try {
    const fd = openSync(dir, 'r');
    return { path: `/proc/self/fd/${fd}/${name}`, close: () => closeSync(fd) };
  } catch {
    const path = join(dir, name);
    return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES ? { path, close: () => {} } : null;
  }
}

type Holder = 'alive' | 'dead' | 'unknown';

/**
 * Whether a process listens on the socket `name` in `dir`: alive when the connection is made, or
 * refused for a full backlog (someone listens, and has not accepted for a while: a stalled
 * event loop); dead when it is refused. The kernel makes the connection whatever the listening
 * process's event loop is doing.
 */
async function listener(dir: string, name: string): Promise<Holder> {
  const socket = socketPath(dir, name);
  if (socket === null) return 'unknown';
  try {
    return await new Promise((resolve) => {
      const connection = connect(socket.path);
      connection.once('connect', () => {
        connection.destroy();
        resolve('alive');
      });
      connection.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'dead' : err.code === 'EAGAIN' ? 'alive' : 'unknown'));
    });
  } finally {
    socket.close();
  }
}

/** The lock's holder: alive or dead only on proof (see the top of this file), else unknown. */
async function holderOf(root: string, bootId: string | null): Promise<Holder> {
  if (bootId === null) return 'unknown';
  let owner: Owner;
  let ino: number;
  try {
    owner = JSON.parse(await readOwnerFile(root)) as Owner;
    ino = (await stat(join(root, LOCK_DIR))).ino;
  } catch {
    return 'unknown';
  }
  // The owner file must describe this very lock directory, not an earlier one.
  if (owner.boot_id !== bootId || owner.lock_ino !== ino || typeof owner.socket !== 'string') return 'unknown';
  return listener(root, owner.socket);
}

/** An owner file is a few hundred bytes; anything larger is not one. */
const MAX_OWNER_BYTES = 4096;

/**
 * The owner file's text. Whatever sits at its path is read without blocking or following a link:
 * a FIFO or a device there (a damaged or tampered WAL root) must not hang a start.
 */
async function readOwnerFile(root: string): Promise<string> {
  const file = await open(join(root, OWNER_FILE), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const stats = await file.stat();
    if (!stats.isFile() || stats.size > MAX_OWNER_BYTES) throw new Error('not an owner file');
    const buffer = Buffer.alloc(stats.size);
    const { bytesRead } = await file.read(buffer, 0, stats.size, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Whether the lock's holder is provably dead: see the top of this file. */
export async function holderIsDead(root: string, bootId = kernelBootId()): Promise<boolean> {
  return (await holderOf(root, bootId)) === 'dead';
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Listens on the liveness socket and writes the owner file; returns what undoes both. Either may
 * fail (a file system without sockets; something not ours at their paths): the lock is held all
 * the same, and a later start waits for it to go stale instead of asking.
 */
async function announceHolder(root: string): Promise<() => Promise<void>> {
  const bootId = kernelBootId();
  const socket = bootId === null ? null : socketPath(root, SOCKET_FILE);
  let server: Server | null = null;
  if (socket !== null) {
    server = createServer((connection) => connection.destroy());
    try {
      // A dead holder's socket file is left behind: it must go before a new one can be bound.
      await rm(join(root, SOCKET_FILE), { force: true });
      await listen(server, socket.path);
      server.unref();
    } catch {
      server = null;
    }
  }
  let announced = false;
  if (bootId !== null) {
    const owner: Owner = { boot_id: bootId, lock_ino: (await stat(join(root, LOCK_DIR))).ino, socket: server === null ? null : SOCKET_FILE, pid: process.pid };
    const tmp = join(root, OWNER_TMP_FILE);
    try {
      await writeFile(tmp, JSON.stringify(owner));
      await rename(tmp, join(root, OWNER_FILE));
      announced = true;
    } catch {
      await rm(tmp, { force: true }).catch(() => {});
    }
  }
  return async () => {
    if (announced) await rm(join(root, OWNER_FILE), { force: true });
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    socket?.close();
  };
}

export async function lockWalRoot(opts: WalLockOptions): Promise<ReleaseLock> {
  const options = {
    lockfilePath: join(opts.root, LOCK_DIR),
    realpath: false,
    stale: opts.staleMs,
    update: Math.max(1000, Math.floor(opts.staleMs / 2)),
    onCompromised: opts.onCompromised,
  };
  const bootId = kernelBootId();
  // As long as a dead holder's lock takes to go stale, and a little longer.
  const deadline = Date.now() + opts.staleMs + 1000;
  let release: () => Promise<void>;
  let waited = false;
  for (;;) {
    const holder = await holderOf(opts.root, bootId);
    if (holder === 'dead') {
      // As proper-lockfile takes a stale lock: remove it, then take it like anyone else.
      await rmdir(join(opts.root, LOCK_DIR)).catch(() => {});
    }
    // A holder that answers is alive, however stale its lock looks: an event loop stalled past
    // `staleMs` refreshes nothing. Its lock is never tried, so never taken over (and then
    // removed on exit) by proper-lockfile's staleness rule.
    if (holder !== 'alive') {
      try {
        release = await lockfile.lock(opts.root, { ...options, retries: 0 });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      }
    }
    if (Date.now() >= deadline) throw logstackError('WAL_LOCKED', [opts.root]);
    if (!waited && holder !== 'dead') opts.onWait?.(holder);
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
  const withdraw = await announceHolder(opts.root);
  return async () => {
    await withdraw();
    await release();
  };
}
