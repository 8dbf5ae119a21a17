/**
 * A WAL as a crash leaves it, for the damage suites: the real service (the CLI, in its own
 * process) accepts entries while Loki refuses them and is killed with SIGKILL. Helpers to copy
 * it, damage it, look at it and restart on it — through the service, the HTTP API and the CLI
 * only, so that the same cases run against any release.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { segmentFileName } from '../../src/wal/segment-format.js';
import { isLockFile } from '../../src/wal/wal-lock.js';
import { REPO_ROOT, spawnCli } from './child.js';
import { testConfig } from './config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from './loki-stand-in.js';

export const TOKEN = 'tok_damage_0123456789abcdef';
export const ADMIN = 'adm_damage_0123456789abcdef';
export const KEY = 'damage';
export const SEGMENT_BYTES = 8192;
/** About 230 bytes a record: 8 KiB segments hold ~34, so 250 entries span 8 segments. */
export const PADDING = 'p'.repeat(160);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function tempRoot(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'logstack-damage-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

export const idOf = (line: string) => line.split('|')[0]!;

export interface Base {
  /** The WAL root, as the SIGKILL left it: shared by every suite, damaged only in copies (copyOf). */
  readonly root: string;
  /** Ids delivered before Loki began to refuse (the cursor is after them). */
  readonly delivered: readonly string[];
  /** Ids acknowledged while Loki refused: the backlog. */
  readonly pending: readonly string[];
}

/**
 * The real service in its own process: `deliver` entries while Loki is up (a cursor), then
 * `pending` entries answered 202 while it refuses, then SIGKILL. `instance` tells apart crashes
 * with the same counts that must be different WALs (each process gives its WAL its own id).
 *
 * Every damage suite starts from the same few crashes and only damages copies, so each is built
 * once and kept, never written again, under the OS temp dir, named for what built it: the
 * sources, the test support, the lockfile and the Node version. A change to any of them builds
 * it anew. Two suites building the same one at once each build in a folder of their own and
 * rename it into place; a rename onto the finished folder fails, and the later build is dropped.
 */
export async function crashedWal(t: Test, deliver: number, pending: number, instance = 0): Promise<Base> {
  const dir = join(tmpdir(), `logstack-crashed-wal-${builtFrom()}-${deliver}-${pending}-${instance}`);
  const kept = await readKept(dir);
  if (kept !== null) return kept;
  const building = await mkdtemp(`${dir}.building-`);
  try {
    const { delivered, pending: pendingIds } = await crash(t, join(building, 'wal'), deliver, pending);
    await writeFile(join(building, 'ids.json'), JSON.stringify({ delivered, pending: pendingIds }));
    await rename(building, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  const built = await readKept(dir);
  if (built === null) throw new Error(`the crashed WAL ${dir} was not kept`);
  return built;
}

async function readKept(dir: string): Promise<Base | null> {
  try {
    const { delivered, pending } = JSON.parse(await readFile(join(dir, 'ids.json'), 'utf8')) as Omit<Base, 'root'>;
    return { root: join(dir, 'wal'), delivered, pending };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

let fingerprint: string | undefined;

/** A digest of everything that decides what a crashed WAL holds. */
function builtFrom(): string {
  if (fingerprint !== undefined) return fingerprint;
  const hash = createHash('sha256').update(process.version);
  const file = (path: string) => hash.update(`\0${path}\0`).update(readFileSync(join(REPO_ROOT, path)));
  for (const folder of ['src', 'test/support']) {
    const names = readdirSync(join(REPO_ROOT, folder), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(REPO_ROOT.length))
      .sort();
    for (const name of names) file(name);
  }
  file('package-lock.json');
  fingerprint = hash.digest('hex').slice(0, 16);
  return fingerprint;
}

async function crash(t: Test, root: string, deliver: number, pending: number): Promise<Omit<Base, 'root'>> {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  const dir = dirname(root);
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    stringify({
      server: { host: '127.0.0.1', port },
      security: { admin_token: ADMIN, rate_limit_rps: 1e6, rate_limit_burst: 1e6, api_keys: { [TOKEN]: { name: KEY } } },
      wal: { wal_root_path: root, segment_max_bytes: SEGMENT_BYTES, lock_stale_seconds: 2 },
      loki: { base_url: loki.url, batch_max_wait_ms: 5, backoff_initial_ms: 10, backoff_max_ms: 100 },
    }),
  );
  const child = spawnCli(['serve', '--config', config]);
  t.teardown(() => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  });
  await child.waitForLine(/LogStack is serving/);
  const url = `http://127.0.0.1:${port}`;
  let next = 0;
  const send = async (count: number, padding = PADDING): Promise<string[]> => {
    const ids: string[] = [];
    for (let sent = 0; sent < count; sent += 10) {
      const batch = Array.from({ length: Math.min(10, count - sent) }, () => `e${String(++next).padStart(4, '0')}`);
      const res = await fetch(`${url}/v1/logs:ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ entries: batch.map((id) => ({ timestamp: new Date().toISOString(), level: 'INFO', message: `${id}|${padding}`, service: 'damage', env: 'test' })) }),
      });
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
      ids.push(...batch);
    }
    return ids;
  };
  const delivered = await send(deliver);
  if (deliver > 0) {
    const res = await fetch(`${url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    if (res.status !== 200) throw new Error(`flush answered ${res.status}`);
  }
  loki.setStandingAnswer(lokiAnswers.unavailable());
  // The last two records short: the truncation sweep restarts at every byte of them.
  const pendingIds = [...(await send(pending - 2)), ...(await send(2, ''))];
  child.proc.kill('SIGKILL');
  await child.exited;
  return { delivered, pending: pendingIds };
}

export async function copyOf(t: Test, base: Base): Promise<string> {
  const root = join(await tempRoot(t), 'wal');
  // Without the dead process's lock files: its liveness socket cannot be copied, and a copy
  // starts unlocked, as a WAL restored from a backup does.
  await cp(base.root, root, { recursive: true, filter: (src) => dirname(src) !== base.root || !isLockFile(basename(src)) });
  return root;
}

export const tokenDir = (root: string) => join(root, KEY);
export const segmentPath = (root: string, segment: number) => join(tokenDir(root), segmentFileName(segment));

export interface Placed {
  readonly id: string;
  readonly seq: number;
  readonly position: { readonly segment: number; readonly offset: number };
}

/** Where every entry record is, as `logstack wal dump` shows them from the oldest segment. */
export async function layout(root: string): Promise<Placed[]> {
  const child = spawnCli(['wal', 'dump', root, '--token', KEY, '--from-start']);
  const { code } = await child.exited;
  if (code !== 0) throw new Error(`wal dump exited ${code}: ${child.stderr()}`);
  return child.lines
    .map((l) => JSON.parse(l) as { seq?: number; segment: number; offset: number; line?: string })
    .filter((l) => l.seq !== undefined)
    .map((l) => ({ id: idOf(l.line!), seq: l.seq!, position: { segment: l.segment, offset: l.offset } }));
}

/** `logstack wal verify --json` on `root`: its exit code and what it printed. */
export async function cliVerify(root: string): Promise<{ code: number | null; json: any; stderr: string }> {
  const child = spawnCli(['wal', 'verify', root, '--json']);
  const { code } = await child.exited;
  return { code, json: child.lines.length > 0 ? JSON.parse(child.lines.join('\n')) : null, stderr: child.stderr() };
}

/** The records of `base`'s backlog: acknowledged, not delivered. */
export function pendingOf<P extends { readonly seq: number }>(base: Base, placed: readonly P[]): P[] {
  return placed.filter((p) => p.seq > base.delivered.length);
}

export async function segmentsOf(root: string): Promise<number[]> {
  return (await readdir(tokenDir(root))).filter((n) => /^\d{16}\.wal$/.test(n)).map((n) => Number(n.slice(0, 16))).sort((a, b) => a - b);
}

export async function flip(file: string, at: number, mask = 0xff): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0]! ^= mask;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

export async function writeCursor(root: string, fields: Record<string, unknown>): Promise<void> {
  await writeFile(join(tokenDir(root), 'cursor.json'), JSON.stringify({ version: 1, ...fields }));
}

export async function logLines(r: ServiceOutcome): Promise<Array<Record<string, any>>> {
  return r.lines.map((l) => JSON.parse(l) as Record<string, any>);
}

export interface ServiceOutcome {
  /** Ids the stand-in holds after the flush. */
  readonly received: Set<string>;
  readonly flush: number;
  readonly metric: (series: string) => number | null;
  /** The log at the time of the flush. */
  readonly logs: string;
  /** Every log line so far. */
  readonly lines: readonly string[];
  readonly service: LogstackService;
  readonly url: string;
  readonly loki: LokiStandIn;
}

export async function serviceRestart(t: Test, root: string, keys: Record<string, { name: string }> = { [TOKEN]: { name: KEY } }): Promise<ServiceOutcome> {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 1 },
    security: { admin_token: ADMIN, api_keys: keys },
    wal: { wal_root_path: root, segment_max_bytes: SEGMENT_BYTES, lock_stale_seconds: 2 },
    loki: { base_url: loki.url, batch_max_wait_ms: 5, backoff_initial_ms: 10, backoff_max_ms: 100 },
  });
  const lines: string[] = [];
  const service = new LogstackService({ config, logger: createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } }), version: 'test' });
  const url = await service.start();
  t.teardown(() => service.stop(0));
  const res = await fetch(`${url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  await res.arrayBuffer();
  const metrics = await (await fetch(`${url}/metrics`)).text();
  return {
    received: new Set(loki.received().map((e) => idOf(e.line))),
    flush: res.status,
    metric: (series) => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? null : Number(line.slice(series.length + 1));
    },
    logs: lines.join(''),
    lines,
    service,
    url,
    loki,
  };
}
