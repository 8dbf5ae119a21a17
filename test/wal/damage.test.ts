/**
 * A damaged WAL gives back every record it still holds, and says exactly what it lost: the
 * cases of the table, on the real service.
 *
 * The WAL under test is a real one: LogStack (the CLI, in its own process) accepts entries while
 * Loki refuses them, and is killed with SIGKILL (test/support/crashed-wal.ts). Each case copies
 * that directory, damages the copy as a bad disk, a restore or an operator would, and restarts
 * the service on it against a healthy Loki stand-in, then flushes: every record with a good CRC
 * is delivered, the entries lost are counted exactly (`wal_corrupt_records_total`, logged once
 * with segment and offset), and `logstack wal verify` reports the same — the service, its HTTP
 * API and the CLI only, so the cases run against the previous release too, where each fails.
 *
 * The classes behind the rows, swept byte by byte, are in damage-sweep.test.ts; ENOSPC from
 * another process and a directory turning read-only in test/reliability/storage-faults.test.ts
 * (they need a mount).
 */
import { cp, mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { HEADER_BYTES, segmentFileName } from '../../src/wal/segment-format.js';
import { spawnCli } from '../support/child.js';
import {
  ADMIN,
  KEY,
  PADDING,
  TOKEN,
  cliVerify,
  copyOf,
  crashedWal,
  flip,
  idOf,
  layout,
  logLines,
  pendingOf,
  segmentPath,
  segmentsOf,
  serviceRestart,
  tokenDir,
  writeCursor,
  type Placed,
} from '../support/crashed-wal.js';
import { lokiAnswers } from '../support/loki-stand-in.js';

// Two WALs as a SIGKILL left them, and ten restarts of the service on copies of them.
t.setTimeout(300_000);

const bases = {
  withCursor: await crashedWal(t, 50, 200),
  noCursor: await crashedWal(t, 0, 250),
};

interface Row {
  readonly damage: string;
  /** Damages the copy; returns the ids it destroys (acknowledged, not delivered). */
  readonly apply: (root: string, pending: readonly Placed[]) => Promise<readonly string[]>;
  readonly base: keyof typeof bases;
  /** What the service logs about it. */
  readonly log: RegExp;
  readonly cursorResets: number | null;
}

const TABLE: Row[] = [
  {
    damage: 'cursor.json with segment 999999',
    base: 'withCursor',
    apply: async (root) => {
      await writeCursor(root, { segment: 999_999, offset: HEADER_BYTES, acked_seq: 50 });
      return [];
    },
    log: /"reason":"the cursor does not agree with the segments: it points at segment 999999, past the last one/,
    cursorResets: 1,
  },
  {
    damage: 'cursor.json with a segment one past the last',
    base: 'withCursor',
    apply: async (root) => {
      await writeCursor(root, { segment: (await segmentsOf(root)).at(-1)! + 1, offset: HEADER_BYTES, acked_seq: 50 });
      return [];
    },
    log: /past the last one/,
    cursorResets: 1,
  },
  {
    damage: 'cursor.json with acked_seq 1e12',
    base: 'withCursor',
    apply: async (root, pending) => {
      await writeCursor(root, { segment: pending[0]!.position.segment, offset: pending[0]!.position.offset, acked_seq: 1e12 });
      return [];
    },
    log: /has seq 51, not 1000000000001/,
    cursorResets: 1,
  },
  {
    damage: 'cursor.json with offset 1e9',
    base: 'withCursor',
    apply: async (root, pending) => {
      await writeCursor(root, { segment: pending[0]!.position.segment, offset: 1e9, acked_seq: 50 });
      return [];
    },
    log: /offset 1000000000 is past the end of segment/,
    cursorResets: 1,
  },
  {
    damage: 'cursor.json with an offset inside a record',
    base: 'withCursor',
    apply: async (root, pending) => {
      await writeCursor(root, { segment: pending[3]!.position.segment, offset: pending[3]!.position.offset + 7, acked_seq: pending[3]!.seq - 1 });
      return [];
    },
    log: /is not at a record boundary/,
    cursorResets: 1,
  },
  {
    damage: 'one byte of a segment header’s magic flipped',
    base: 'withCursor',
    apply: async (root, pending) => {
      await flip(segmentPath(root, pending.at(-40)!.position.segment), 3);
      return [];
    },
    log: /"entries_lost":0,"segment":\d+,"offset":0,"bytes":64,"reason":"bad header \(bad magic\); its records are read all the same"/,
    cursorResets: null,
  },
  {
    damage: 'an empty file 9999999999999999.wal',
    base: 'withCursor',
    apply: async (root) => {
      await writeFile(join(tokenDir(root), '9999999999999999.wal'), '');
      return [];
    },
    log: /9999999999999999\.wal.*its number is out of range/,
    cursorResets: null,
  },
  {
    damage: 'a folder named like a segment',
    base: 'withCursor',
    apply: async (root) => {
      await mkdir(join(tokenDir(root), segmentFileName((await segmentsOf(root)).at(-1)! + 1)));
      return [];
    },
    log: /a folder named like a segment/,
    cursorResets: null,
  },
  {
    damage: 'the first of two segments deleted before any cursor existed',
    base: 'noCursor',
    apply: async (root, pending) => {
      const first = pending[0]!.position.segment;
      await rm(segmentPath(root, first));
      return pending.filter((p) => p.position.segment === first).map((p) => p.id);
    },
    log: /"reason":"seq jumps from 0 to \d+: entries 1-\d+ are not on disk","msg":"WAL damage: entries lost"/,
    cursorResets: null,
  },
];

// Where the records are, read once per base from its first copy: every copy is the same bytes
// until a row damages it.
const layouts = new Map<keyof typeof bases, Promise<Placed[]>>();

for (const row of TABLE) {
  t.test(`${row.damage}: every record with a good CRC is delivered, the loss is counted exactly, verify agrees`, async (t) => {
    const base = bases[row.base];
    const root = await copyOf(t, base);
    if (!layouts.has(row.base)) layouts.set(row.base, layout(root));
    const lost = new Set(await row.apply(root, pendingOf(base, await layouts.get(row.base)!)));
    const verify = await cliVerify(root);
    const r = await serviceRestart(t, root);
    const missing = base.pending.filter((id) => !r.received.has(id));
    t.same(missing.sort(), [...lost].sort(), `delivered ${base.pending.length - missing.length}/${base.pending.length}; missing exactly what the damage destroyed`);
    t.equal(r.flush, 200, 'a flush completes');
    t.equal(r.metric(`wal_corrupt_records_total{token="${KEY}"}`) ?? 0, lost.size, 'wal_corrupt_records_total: the entries lost');
    t.equal(r.metric(`wal_cursor_resets_total{token="${KEY}"}`), row.cursorResets, 'wal_cursor_resets_total');
    t.match(r.logs, row.log, 'logged');
    const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
    t.equal(token?.lost_entries, lost.size, 'verify counts the same loss');
    t.equal(token?.cursor?.used, row.cursorResets === null ? token?.cursor?.state === 'ok' : false, 'verify: the cursor is used or not, as the start did');
    t.equal(verify.code, 1, 'verify exits 1: there is something to look at');
    t.comment(`${row.damage}: delivered ${base.pending.length - missing.length}/${base.pending.length}; verify said: ${(token?.findings ?? []).map((f: { message: string }) => f.message).join(' | ')}`);
  });
}

t.test('the active segment truncated while running: the entries cut are counted exactly, once, and a flush completes', async (t) => {
  const root = await copyOf(t, bases.withCursor);
  const r = await serviceRestart(t, root);
  const ingest = (ids: readonly string[]) =>
    fetch(`${r.url}/v1/logs:ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ entries: ids.map((id) => ({ timestamp: new Date().toISOString(), level: 'INFO', message: `${id}|${PADDING}`, service: 'damage', env: 'test' })) }),
    });
  // Loki refuses while 100 more are accepted, so that they are only in the active segment. One
  // entry goes first and is pushed (and refused) before they arrive: the forwarder keeps pushing
  // that batch, so the 100 are read only after the cut. Had it read them before, it would deliver
  // them from memory, and the cut would cost nothing.
  r.loki.setStandingAnswer(lokiAnswers.unavailable());
  const pushed = r.loki.pushes.length;
  t.equal((await ingest(['hold'])).status, 202);
  await r.loki.waitFor((loki) => loki.pushes.length > pushed, 10_000);
  // One request: one group, which a segment takes whole, so the 100 entries share the active segment.
  const ids = Array.from({ length: 100 }, (_, i) => `run${i}`);
  t.equal((await ingest(ids)).status, 202);
  const placed = await layout(root);
  const active = placed.at(-1)!.position.segment;
  const inActive = placed.filter((p) => p.position.segment === active);
  const cutFrom = inActive[inActive.length - 20]!;
  const cut = inActive.slice(-20).map((p) => p.id);
  await truncate(segmentPath(root, active), cutFrom.position.offset + 3);
  r.loki.setStandingAnswer(null);
  const res = await fetch(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  t.equal(res.status, 200, 'the flush completes: everything readable is delivered');
  const received = new Set(r.loki.received().map((e) => idOf(e.line)));
  t.same(ids.filter((id) => !received.has(id)), cut, 'exactly the entries cut are missing');
  const status = async () => ((await (await fetch(`${r.url}/v1/admin/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { tokens: Record<string, unknown> }).tokens[KEY];
  t.match(await status(), { corrupt_records: 20 }, 'counted: 20');
  const text = await (await fetch(`${r.url}/metrics`)).text();
  t.match(text, new RegExp(`^wal_corrupt_records_total\\{token="${KEY}"\\} 20$`, 'm'));
  const logged = (await logLines(r)).filter((l) => l.msg === 'WAL damage: entries lost');
  t.match(logged, [{ token_name: KEY, entries_lost: 20, segment: active, offset: cutFrom.position.offset, reason: /the file ends at \d+, short of \d+/ }], 'logged once, with the segment and the offset');
  // Appends go on after the cut.
  t.equal((await ingest(['after'])).status, 202);
  t.equal((await fetch(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } })).status, 200);
  t.ok(r.loki.received().some((e) => idOf(e.line) === 'after'), 'and are delivered');
  t.match(await status(), { corrupt_records: 20 }, 'the cut is not counted again');
});

t.test('stray and foreign files and folders are left alone with a warning; the token delivers everything and a flush completes', async (t) => {
  const root = await copyOf(t, bases.withCursor);
  const dir = tokenDir(root);
  const last = (await segmentsOf(root)).at(-1)!;
  await writeFile(join(dir, '9999999999999999.wal'), '');
  await writeFile(join(dir, '0000000000000000.wal'), 'zero');
  await writeFile(join(dir, '18446744073709551615.wal'), 'too long a name');
  await mkdir(join(dir, segmentFileName(last + 1)));
  await symlink(segmentPath(root, last), join(dir, segmentFileName(last + 2)));
  await writeFile(join(dir, `evil\u001b[2J\u202e.wal`), 'x');
  await writeFile(join(dir, 'notes.txt'), 'hello');
  execFileSync('mkfifo', [join(dir, 'a-fifo')]);
  // In the root: folders that are no key's, one named as a key's would be, and a key no longer configured.
  await mkdir(join(root, 'lost+found'));
  await mkdir(join(root, '%1B%5B31m'));
  await mkdir(join(root, 'empty-key'));
  await cp(dir, join(root, 'old-key'), { recursive: true, filter: (src) => !src.endsWith('a-fifo') });
  const verify = await cliVerify(root);
  const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
  t.equal(token?.set_aside?.length, 8, 'verify lists each file that is not the WAL’s');
  t.equal(token?.lost_entries, 0);

  const r = await serviceRestart(t, root);
  t.same(bases.withCursor.pending.filter((id) => !r.received.has(id)), [], 'every pending entry delivered');
  t.equal(r.flush, 200, 'a flush completes');
  t.same(
    r.service.wal
      .tokens()
      .map((w) => w.name)
      .sort(),
    [KEY, 'old-key'],
    'only the configured key and the folder of a key no longer configured are tokens',
  );
  t.match(r.logs, /WAL of a key no longer configured/);
  for (const raw of ['\u001b', '\u202e']) {
    t.notOk(r.logs.includes(raw), `no raw ${JSON.stringify(raw)} in the logs`);
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    t.notOk(metrics.includes(raw), `nor in the metrics`);
  }
  t.match(r.logs, /evil\\\\u\{1b\}\[2J\\\\u\{202e\}\.wal/, 'the name is logged escaped');
  const cli = spawnCli(['wal', 'verify', root]);
  const { code } = await cli.exited;
  const out = cli.lines.join('\n');
  t.equal(code, 1, 'verify exits 1: files to look at');
  t.notOk(out.includes('\u001b') || out.includes('\u202e'), 'the CLI prints no raw control character');
  t.match(out, 'evil\\u{1b}[2J\\u{202e}.wal: not a file of the WAL');
  t.match(out, '%1B%5B31m (in the WAL root): not named as a key’s WAL folder; left alone');
  t.notMatch(r.logs, /\.lock\.(owner|sock)/, 'the lock’s own files are no stray files to the service');
  t.notMatch(out, /\.lock\.(owner|sock)/, 'nor to verify, while the service holds the lock');
});

