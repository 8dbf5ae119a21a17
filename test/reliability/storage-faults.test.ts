/**
 * Storage faults, seen from outside: a LogstackService with several keys, each its own Loki
 * tenant at the stand-in, where one key's WAL directory is damaged before a start, filled up or
 * made read-only while running. Each time the service must start, keep the other keys working,
 * count and report what it skipped (/metrics, /v1/admin/status, /readyz, its log), answer
 * every entry it could not persist with a JSON error rather than 202, and deliver every entry
 * it answered 202 for once the fault is gone. Every entry's message starts with a unique id.
 *
 * The faults are real: files cut and flipped on disk, a small tmpfs filled up, a read-only
 * bind mount. Mounting needs root; without it those tests skip.
 */
import { mkdir, mkdtemp, open, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { decodeEntryAdapter } from '../../src/loki/entry-codec.js';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { readCursor } from '../../src/wal/cursor-file.js';
import { FRAME_HEAD_BYTES, HEADER_BYTES, KIND_LABEL_SET, segmentFileName } from '../../src/wal/segment-format.js';
import { bindMount, type BindMount } from '../support/bind-mount.js';
import { testConfig } from '../support/config.js';
import { createLokiStandIn, lokiAnswers, type LokiStandIn } from '../support/loki-stand-in.js';
import { mountTmpfs } from '../support/tmpfs.js';

const ADMIN = 'adm_0123456789abcdef0123456789';
const tokenOf = (key: string) => `tok_${key}_0123456789abcdef`;
const tenantOf = (key: string) => `tenant-${key}`;
/** Makes every record about 230 bytes, so 4 KiB segments hold ~17 and a backlog spans several. */
const PADDING = 'p'.repeat(160);
const SEGMENT_BYTES = 4096;

interface Answer {
  readonly status: number;
  readonly json: any;
  readonly headers: Headers;
}

interface Running {
  readonly service: LogstackService;
  /** Log lines so far, parsed. */
  logs(): Array<Record<string, any>>;
  ingest(key: string, ids: readonly string[]): Promise<Answer>;
  get(path: string): Promise<Answer>;
  /** POST /v1/admin/flush?wait=true. */
  flush(timeoutSeconds?: number): Promise<Answer>;
  /** The value of one series in /metrics, or null when it is not exposed. */
  metric(series: string): Promise<number | null>;
  stop(): Promise<void>;
}

async function tempDir(t: Test): Promise<string> {
  // Not under the test's fixture dir: a mount left behind there would break tap's cleanup.
  const dir = await mkdtemp(join(tmpdir(), 'logstack-storage-faults-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function standIn(t: Test): Promise<LokiStandIn> {
  const loki = createLokiStandIn();
  await loki.start();
  t.teardown(() => loki.close());
  return loki;
}

async function startService(t: Test, root: string, loki: LokiStandIn, keys: readonly string[]): Promise<Running> {
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 1 },
    security: { admin_token: ADMIN, api_keys: Object.fromEntries(keys.map((key) => [tokenOf(key), { name: key, tenant: tenantOf(key) }])) },
    wal: { wal_root_path: root, segment_max_bytes: SEGMENT_BYTES, lock_stale_seconds: 2, disk_reserve_percent: 0 },
    loki: { base_url: loki.url, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 100, ready_check_interval_seconds: 1 },
  });
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
  const service = new LogstackService({ config, logger, version: 'test' });
  const url = await service.start();
  t.teardown(() => service.stop(0));
  const call = async (method: string, path: string, body?: unknown, token = ADMIN): Promise<Answer> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json(), headers: res.headers };
  };
  return {
    service,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, any>),
    ingest: (key, ids) =>
      call('POST', '/v1/logs:ingest', { entries: ids.map((id) => ({ timestamp: new Date().toISOString(), level: 'INFO', message: `${id}|${PADDING}`, service: 'storage-faults', env: 'test' })) }, tokenOf(key)),
    get: (path) => call('GET', path),
    flush: (timeoutSeconds = 10) => call('POST', `/v1/admin/flush?wait=true&timeout_seconds=${timeoutSeconds}`),
    async metric(series) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? null : Number(line.slice(series.length + 1));
    },
    stop: () => service.stop(0),
  };
}

const idOf = (line: string) => line.split('|')[0]!;

/** Ids sent per key, those answered 202, and the refusals. */
class Ledger {
  readonly #acked = new Map<string, string[]>();
  readonly refused: Answer[] = [];
  #next = 0;

  acked(key: string): string[] {
    return this.#acked.get(key) ?? [];
  }

  /** Sends `count` new entries for `key` in one request. */
  async send(r: Running, key: string, count: number): Promise<Answer> {
    const ids = Array.from({ length: count }, () => `${key}-${++this.#next}`);
    const res = await r.ingest(key, ids);
    if (res.status === 202) this.#acked.set(key, [...this.acked(key), ...ids]);
    else this.refused.push(res);
    return res;
  }

  /** Ids of `key` answered 202 (or those of `among`) that the stand-in does not have. */
  missing(loki: LokiStandIn, key: string, among: readonly string[] = this.acked(key)): string[] {
    const got = new Set(loki.received(tenantOf(key)).map((e) => idOf(e.line)));
    return among.filter((id) => !got.has(id));
  }
}

/** Resolves once `holds()` is true; the bound only turns a hang into a failure. */
async function eventually(holds: () => boolean | Promise<boolean>, what: string, boundMs = 10_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${boundMs} ms: ${what}`);
    await sleep(20);
  }
}

/** A refusal must be a JSON error with a stable code, a message and Retry-After; never a 2xx. */
function isClearRefusal(t: Test, res: Answer, error: string, message: RegExp): void {
  t.match({ status: res.status, json: res.json }, { status: 503, json: { error, message, request_id: String } }, `refused with 503 ${error}`);
  t.ok(Number(res.headers.get('retry-after')) > 0, 'with Retry-After');
}

interface RecordOnDisk {
  readonly file: string;
  readonly id: string;
  readonly offset: number;
  readonly size: number;
}

/** Where the entry starts in an entry record's payload: after two varints (its label set's offset and the copy's). */
function entryStart(payload: Buffer): number {
  let pos = 0;
  for (let varints = 0; varints < 2; pos++) if (payload[pos]! < 0x80) varints++;
  return pos;
}

/** The entry records of a token directory's segment files, in order, walked here rather than by LogStack's reader. */
async function recordsOnDisk(dir: string): Promise<RecordOnDisk[]> {
  const out: RecordOnDisk[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.wal')).sort()) {
    const bytes = await readFile(join(dir, file));
    for (let offset = HEADER_BYTES; offset + FRAME_HEAD_BYTES <= bytes.length; ) {
      const size = FRAME_HEAD_BYTES + bytes.readUInt32LE(offset);
      if (bytes[offset + 14] !== KIND_LABEL_SET) {
        const payload = bytes.subarray(offset + FRAME_HEAD_BYTES, offset + size);
        out.push({ file, id: idOf(decodeEntryAdapter(payload.subarray(entryStart(payload)), '').line), offset, size });
      }
      offset += size;
    }
  }
  return out;
}

async function readCursorFile(dir: string): Promise<{ segment: number; acked_seq: number }> {
  const read = await readCursor(dir);
  if (read.kind !== 'ok') throw new Error(`no cursor in ${dir}: ${read.kind}`);
  return { segment: read.cursor.segment, acked_seq: read.cursor.ackedSeq };
}

/** Log lines of LogStack's about `key` with `msg` matching. */
function logged(r: Running, key: string, msg: RegExp): Array<Record<string, any>> {
  return r.logs().filter((l) => l.token_name === key && msg.test(String(l.msg)));
}

async function statusOf(r: Running, key: string): Promise<Record<string, any>> {
  return (await r.get('/v1/admin/status')).json.tokens[key];
}

/** Writes a file until the volume has no block left. */
async function fillVolume(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) await fh.write(block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
}

const canMount = (() => {
  const probe = mountTmpfs(64 * 1024);
  probe?.unmount();
  return probe !== null;
})();
const NEEDS_MOUNT = canMount ? false : 'needs to mount a tmpfs and bind mounts (root); skipped here';

// --- read-only directories --------------------------------------------------------------------

t.test('a token directory that turns read-only while running: 503 for what cannot be written, beta unaffected, recovery once writable', { skip: NEEDS_MOUNT }, async (t) => {
  const root = await tempDir(t);
  const loki = await standIn(t);
  const r = await startService(t, root, loki, ['alpha', 'beta']);
  const ledger = new Ledger();
  await ledger.send(r, 'alpha', 4);
  await ledger.send(r, 'beta', 4);
  t.equal((await r.flush()).status, 200, 'delivered before the fault');
  const deliveredBefore = ledger.acked('alpha').length;

  const alphaDir = join(root, 'alpha');
  // Mounted after the start: a mount with a file open for writing through it cannot be made read-only (EBUSY).
  const mount = bindMount(alphaDir, alphaDir) as BindMount;
  t.teardown(() => mount.unmount());
  mount.setReadOnly(true);
  const statuses: number[] = [];
  for (let i = 0; i < 24; i++) {
    statuses.push((await ledger.send(r, 'alpha', 4)).status);
    t.equal((await ledger.send(r, 'beta', 2)).status, 202, `beta is accepted (${i})`);
  }
  t.ok(statuses.includes(202) && statuses.includes(503), `alpha: 202 while its open segment has room, then 503 (${statuses.join(' ')})`);
  t.ok(statuses.every((s) => s === 202 || s === 503), 'no other answer');
  for (const res of ledger.refused) isClearRefusal(t, res, 'wal_unavailable', /alpha could not persist the batch: rotation failed \(EROFS\)/);

  const onDisk = new Set((await recordsOnDisk(alphaDir)).map((rec) => rec.id));
  t.same(ledger.acked('alpha').slice(deliveredBefore).filter((id) => !onDisk.has(id)), [], 'every alpha entry answered 202 is in its segment files');
  await loki.waitFor(() => ledger.missing(loki, 'beta').length === 0);
  t.pass('every beta entry reached Loki during the fault');

  t.match(await statusOf(r, 'alpha'), { failed: null }, 'alpha: refusals are per request, its WAL has not failed');
  // The cursor is written in place, in a file open since the start: it needs no new file, so it moves.
  await eventually(async () => (await statusOf(r, 'alpha')).acked_seq === ledger.acked('alpha').length, 'alpha delivered, its cursor written in place');
  await eventually(async () => (await statusOf(r, 'beta')).pending_entries === 0, 'beta delivered and its cursor written');
  t.match(await statusOf(r, 'beta'), { delivery: 'ok', failed: null });
  const failures = await r.metric('wal_write_failures_total{token="alpha"}');
  t.ok(failures !== null && failures >= ledger.refused.length, `wal_write_failures_total{alpha} = ${failures} (${ledger.refused.length} refused appends)`);
  t.equal(await r.metric('wal_write_failures_total{token="beta"}'), null, 'nothing counted for beta');
  t.match(logged(r, 'alpha', /^WAL write failed$/)[0], { level: 50, err: { code: 'EROFS' } }, 'the failure is logged with its errno');
  t.equal((await r.flush(5)).status, 200, 'a flush completes: what alpha accepted is delivered and acknowledged');

  mount.setReadOnly(false);
  t.equal((await r.flush()).status, 200, 'once writable, a flush completes');
  t.same(ledger.missing(loki, 'alpha'), [], 'every alpha entry answered 202 reached Loki');
  t.same(ledger.missing(loki, 'beta'), [], 'every beta entry answered 202 reached Loki');
  t.equal((await ledger.send(r, 'alpha', 4)).status, 202, 'alpha accepts again without a restart');
  t.match(await statusOf(r, 'alpha'), { delivery: 'ok', failed: null });
  t.comment(
    `read-only at run time: ${ledger.acked('alpha').length} alpha and ${ledger.acked('beta').length} beta entries acknowledged, ` +
      `${ledger.refused.length} alpha requests refused, ${failures} write failures counted, ${loki.duplicatesReceived} duplicates dropped by Loki, 0 lost`,
  );
});

t.test('a token directory that is read-only at start: the service starts, serves beta, refuses alpha, and a start once writable delivers', { skip: NEEDS_MOUNT }, async (t) => {
  const root = await tempDir(t);
  const loki = await standIn(t);
  const ledger = new Ledger();
  loki.setStandingAnswer(lokiAnswers.unavailable(), { tenant: tenantOf('alpha') });
  const first = await startService(t, root, loki, ['alpha', 'beta']);
  for (let i = 0; i < 3; i++) await ledger.send(first, 'alpha', 2);
  await first.stop();
  t.equal(ledger.acked('alpha').length, 6, 'an undelivered backlog');

  const alphaDir = join(root, 'alpha');
  const mount = bindMount(alphaDir, alphaDir) as BindMount;
  t.teardown(() => mount.unmount());
  mount.setReadOnly(true);
  const before = await readdir(alphaDir);
  const r = await startService(t, root, loki, ['alpha', 'beta']);
  t.equal(r.service.state, 'running', 'the service starts');
  t.equal((await ledger.send(r, 'beta', 3)).status, 202);
  await loki.waitFor(() => ledger.missing(loki, 'beta').length === 0);
  isClearRefusal(t, await ledger.send(r, 'alpha', 1), 'wal_unavailable', /alpha could not persist the batch: could not open its directory \(EROFS\)/);

  const ready = await r.get('/readyz');
  t.equal(ready.status, 503, '/readyz: not ready while a token cannot append');
  t.match(ready.json.checks.wal, { ok: false, detail: /alpha: could not open its directory \(EROFS\)/ });
  t.match(await statusOf(r, 'alpha'), { failed: /EROFS/ });
  t.match(await statusOf(r, 'beta'), { failed: null, delivery: 'ok' });
  t.equal(await r.metric('wal_write_failures_total{token="alpha"}'), 1);
  t.match(logged(r, 'alpha', /^WAL write failed$/)[0], { err: { code: 'EROFS' } });
  const flush = await r.flush(1);
  t.match(
    { status: flush.status, json: flush.json },
    { status: 504, json: { error: 'flush_timeout', details: { alpha: { delivered: false }, beta: { delivered: true } } } },
    'a flush does not say complete while alpha’s backlog cannot even be read',
  );
  await r.stop();
  t.same(await readdir(alphaDir), before, 'nothing in the directory was touched');

  mount.setReadOnly(false);
  loki.setStandingAnswer(null, { tenant: tenantOf('alpha') });
  const again = await startService(t, root, loki, ['alpha', 'beta']);
  t.equal((await again.flush()).status, 200);
  t.same(ledger.missing(loki, 'alpha'), [], 'the backlog kept through the read-only start reached Loki');
  t.comment(`read-only at start: ${ledger.acked('alpha').length} alpha entries kept and delivered after it, ${ledger.acked('beta').length} beta entries delivered during it, 1 request refused`);
});

// --- a full volume -------------------------------------------------------------------------------

t.test('a volume filled by another process after Loki recovers: the cursor is written in place, the delivered segments are freed, a flush completes', { skip: NEEDS_MOUNT }, async (t) => {
  const root = await tempDir(t);
  const loki = await standIn(t);
  const tmpfs = mountTmpfs(256 * 1024);
  if (!tmpfs) return t.fail('the tmpfs mounted a moment ago could not be mounted again');
  const alphaDir = join(root, 'alpha');
  await mkdir(join(tmpfs.path, 'alpha'));
  await mkdir(alphaDir);
  // alpha's directory on a volume of its own; beta's stays on the root's.
  const volume = bindMount(join(tmpfs.path, 'alpha'), alphaDir) as BindMount;
  // Teardowns run last first: the service (started below) lets go of its files before the volume goes.
  t.teardown(() => {
    volume.unmount();
    tmpfs.unmount();
  });
  const ledger = new Ledger();
  const r = await startService(t, root, loki, ['alpha', 'beta']);

  await ledger.send(r, 'alpha', 5);
  t.equal((await r.flush()).status, 200);
  t.equal((await readCursorFile(alphaDir)).acked_seq, 5, 'a cursor on disk before the fault');

  loki.setStandingAnswer(lokiAnswers.unavailable(), { tenant: tenantOf('alpha') });
  for (let i = 0; i < 10; i++) t.equal((await ledger.send(r, 'alpha', 2)).status, 202);
  const segmentsBefore = (await statusOf(r, 'alpha')).segments;
  const filler = join(tmpfs.path, 'filler');
  await fillVolume(filler);
  // More than what is left of the last page and of the segment: it needs blocks the volume lacks.
  isClearRefusal(t, await ledger.send(r, 'alpha', 40), 'wal_unavailable', /alpha could not persist the batch: (rotation|write) failed \(ENOSPC\)/);
  loki.setStandingAnswer(null, { tenant: tenantOf('alpha') });

  // Still full: the cursor needs no new block, so it moves, and the segments it passed are deleted.
  const flushed = await r.flush();
  t.equal(flushed.status, 200, 'a flush completes on the full volume');
  t.same(ledger.missing(loki, 'alpha'), [], 'Loki has every alpha entry');
  t.equal((await readCursorFile(alphaDir)).acked_seq, ledger.acked('alpha').length, 'the cursor on disk moved');
  t.notOk((await readdir(alphaDir)).includes('cursor.json.tmp'), 'no temp cursor: the cursor is written in place');
  t.match(await statusOf(r, 'alpha'), { pending_entries: 0, failed: null, delivery: 'ok' }, 'nothing pending');
  // The active segment cannot be sealed while the volume is full; every segment before it goes.
  await eventually(async () => (await statusOf(r, 'alpha')).segments === 1, 'delivered segments deleted');
  const after = await statusOf(r, 'alpha');
  t.ok(segmentsBefore > 1, `delivered segments deleted: ${segmentsBefore} → ${after.segments}, their space is free again`);
  t.equal((await r.get('/healthz')).status, 200, 'the service is alive');
  t.equal((await ledger.send(r, 'alpha', 2)).status, 202, 'the space the delivered segments held takes new entries');
  t.equal((await ledger.send(r, 'beta', 3)).status, 202, 'beta, on another volume, is accepted');
  await rm(filler);
  t.equal((await r.flush()).status, 200);
  t.same(ledger.missing(loki, 'alpha'), [], 'nothing lost');
  t.same(ledger.missing(loki, 'beta'), [], 'nothing lost');
  t.comment(`full volume: ${ledger.acked('alpha').length} alpha entries acknowledged, 1 request refused, segments ${segmentsBefore} → ${after.segments} while full, 0 lost`);
});

// --- damage found at start -----------------------------------------------------------------------

interface Harm {
  /** Pending ids the damage destroys. */
  readonly lost: readonly string[];
  readonly corruptRecords: number | null;
  readonly tornTailBytes: number | null;
  readonly cursorResets: number | null;
  /** A log line about the key that must be there. */
  readonly log: RegExp | null;
  readonly detail: string;
}

interface Damage {
  readonly key: string;
  readonly what: string;
  readonly apply: (dir: string, pending: readonly string[]) => Promise<Harm>;
}

const noHarm = { lost: [], corruptRecords: null, tornTailBytes: null } as const;

/**
 * Cuts the last record of the last segment `cut` bytes after its start (a function of its size).
 * The service stopped cleanly and recorded where the WAL ended: the record was acknowledged, so
 * the cut is a loss, counted, and its bytes are kept — not the torn tail a crash leaves.
 */
function cutLastRecord(cut: (size: number) => number, what: string): Damage {
  const key = `cut-${what.replace(/\W+/g, '-')}`;
  return {
    key,
    what: `the last record cut ${what}`,
    async apply(dir) {
      const last = (await recordsOnDisk(dir)).at(-1)!;
      const bytes = cut(last.size);
      await truncate(join(dir, last.file), last.offset + bytes);
      return { lost: [last.id], corruptRecords: 1, tornTailBytes: null, cursorResets: null, log: /^WAL damage: entries lost$/, detail: `${bytes} of its ${last.size} bytes left` };
    },
  };
}

/** A segment file deleted: the cursor's own, or the one after it. */
function deleteSegment(which: 'cursor' | 'next'): Damage {
  return {
    key: `gone-${which}`,
    what: `${which === 'cursor' ? 'the cursor’s segment' : 'the segment after the cursor’s'} deleted`,
    async apply(dir, pending) {
      const { segment } = await readCursorFile(dir);
      const file = segmentFileName(which === 'cursor' ? segment : segment + 1);
      const pendingSet = new Set(pending);
      const lost = (await recordsOnDisk(dir)).filter((rec) => rec.file === file && pendingSet.has(rec.id)).map((rec) => rec.id);
      await rm(join(dir, file));
      // The cursor still agrees with the segments around its missing one: it is used. Its own
      // segment gone, it points before the oldest one, as an older cursor restored from a backup
      // does: what lay between cannot be told delivered from lost, and is reported, not counted.
      if (which === 'cursor') return { lost, corruptRecords: 0, tornTailBytes: null, cursorResets: null, log: /^WAL damage: nothing lost$/, detail: `${file}, ${lost.length} entries` };
      return { lost, corruptRecords: lost.length, tornTailBytes: null, cursorResets: null, log: /WAL damage: entries lost/, detail: `${file}, ${lost.length} entries` };
    },
  };
}

const DAMAGES: readonly Damage[] = [
  {
    key: 'cursor-empty',
    what: 'a zero-length cursor file',
    async apply(dir) {
      await writeFile(join(dir, 'cursor.json'), '');
      return { ...noHarm, cursorResets: 1, log: /cursor not used/, detail: 'delivery restarts at the oldest segment' };
    },
  },
  {
    key: 'cursor-missing',
    what: 'a missing cursor file',
    async apply(dir) {
      await rm(join(dir, 'cursor.json'));
      // Not a reset: a missing cursor cannot be told from a key that never delivered.
      return { ...noHarm, cursorResets: null, log: null, detail: 'delivery restarts at the oldest segment' };
    },
  },
  // Every byte offset is covered at the WAL level (test/wal/recovery.test.ts); a sample here.
  cutLastRecord(() => 5, 'inside its CRC'),
  cutLastRecord(() => 20, 'inside its time'),
  cutLastRecord(() => FRAME_HEAD_BYTES, 'after its head'),
  cutLastRecord((size) => Math.floor(size / 2), 'mid-payload'),
  cutLastRecord((size) => size - 1, 'one byte short'),
  {
    key: 'flips',
    what: 'random bytes flipped inside records',
    async apply(dir, pending) {
      const pendingSet = new Set(pending);
      // The last record is left alone: damage there is the cuts' case (above).
      const candidates = (await recordsOnDisk(dir)).filter((rec) => pendingSet.has(rec.id)).slice(0, -1);
      let seed = 20261122;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const hit = new Set<string>();
      const flips: string[] = [];
      for (let i = 0; i < 4; i++) {
        const rec = candidates[Math.floor(random() * candidates.length)]!;
        const at = rec.offset + Math.floor(random() * rec.size);
        const fh = await open(join(dir, rec.file), 'r+');
        const byte = Buffer.alloc(1);
        await fh.read(byte, 0, 1, at);
        byte[0]! ^= 1 + Math.floor(random() * 255);
        await fh.write(byte, 0, 1, at);
        await fh.close();
        hit.add(rec.id);
        flips.push(`${rec.file}@${at}`);
      }
      return { lost: [...hit], corruptRecords: hit.size, tornTailBytes: null, cursorResets: null, log: /WAL damage: entries lost/, detail: `flipped ${flips.join(', ')}` };
    },
  },
  deleteSegment('next'),
  deleteSegment('cursor'),
];

t.test('damage found at start, one kind per key: the service starts, the other keys are untouched, what was skipped is counted and reported', async (t) => {
  const root = await tempDir(t);
  const loki = await standIn(t);
  const keys = ['beta', ...DAMAGES.map((d) => d.key)];
  const ledger = new Ledger();

  // A backlog per key: a little delivered (a cursor on disk), then 40 entries over several segments while Loki refuses them.
  const first = await startService(t, root, loki, keys);
  for (const key of keys) await ledger.send(first, key, 4);
  t.equal((await first.flush()).status, 200);
  const delivered = new Map(keys.map((key) => [key, ledger.acked(key).length]));
  loki.setStandingAnswer(lokiAnswers.unavailable());
  for (const d of DAMAGES) for (let i = 0; i < 10; i++) await ledger.send(first, d.key, 4);
  await first.stop();
  loki.reset();

  const harms = new Map<string, Harm>();
  for (const d of DAMAGES) harms.set(d.key, await d.apply(join(root, d.key), ledger.acked(d.key).slice(delivered.get(d.key))));

  const r = await startService(t, root, loki, keys);
  for (const key of keys) t.equal((await ledger.send(r, key, 2)).status, 202, `${key} accepts entries after the start`);
  t.equal((await r.flush()).status, 200, 'everything left is delivered');
  t.same(ledger.missing(loki, 'beta', ledger.acked('beta').slice(delivered.get('beta'))), [], 'beta: every entry reached Loki');
  for (const series of ['wal_corrupt_records_total', 'wal_torn_tail_bytes_total', 'wal_cursor_resets_total', 'wal_write_failures_total']) {
    t.equal(await r.metric(`${series}{token="beta"}`), null, `beta: no ${series}`);
  }
  t.match(await statusOf(r, 'beta'), { corrupt_records: 0, failed: null, pending_entries: 0 });

  const report: string[] = [];
  for (const d of DAMAGES) {
    await t.test(d.what, async (t) => {
      const harm = harms.get(d.key)!;
      const after = ledger.acked(d.key).slice(delivered.get(d.key));
      t.same(ledger.missing(loki, d.key, after).sort(), [...harm.lost].sort(), `exactly the entries destroyed are missing (${harm.lost.length}; ${harm.detail})`);
      t.equal(await r.metric(`wal_corrupt_records_total{token="${d.key}"}`), harm.corruptRecords, 'wal_corrupt_records_total');
      t.equal(await r.metric(`wal_torn_tail_bytes_total{token="${d.key}"}`), harm.tornTailBytes, 'wal_torn_tail_bytes_total');
      t.equal(await r.metric(`wal_cursor_resets_total{token="${d.key}"}`), harm.cursorResets, 'wal_cursor_resets_total');
      t.match(await statusOf(r, d.key), { corrupt_records: harm.corruptRecords ?? 0, failed: null, pending_entries: 0 }, '/v1/admin/status');
      if (harm.log) t.ok(logged(r, d.key, harm.log).length > 0, `logged: ${harm.log}`);
      report.push(`${d.what}: ${harm.lost.length} of ${after.length - 2} pending lost (${harm.detail})`);
    });
  }
  t.comment(`damage at start, ${DAMAGES.length} keys damaged: ${report.join('; ')}`);
});
