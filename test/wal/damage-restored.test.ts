/**
 * Files restored from a backup or copied in from another key's folder: records are the truth,
 * metadata a hint, and a file that does not fit the records is set aside, never trusted. The
 * WAL is a real one left by SIGKILL (test/support/crashed-wal.ts); each case damages a copy,
 * restarts the real service on it against a healthy Loki stand-in, appends and flushes, and
 * checks what reached Loki, what was counted and logged, and that `logstack wal verify` said
 * the same before the start.
 */
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CursorFile } from '../../src/wal/cursor-file.js';
import { decodeHeader, type SegmentHeader } from '../../src/wal/segment-format.js';
import { ADMIN, KEY, PADDING, TOKEN, cliVerify, copyOf, crashedWal, flip, idOf, layout, segmentPath, segmentsOf, serviceRestart, tokenDir, type ServiceOutcome } from '../support/crashed-wal.js';
import { lokiAnswers } from '../support/loki-stand-in.js';

t.setTimeout(300_000);

const base = await crashedWal(t, 50, 200);
// Another key's WAL, written by another process: its own WAL id.
const other = await crashedWal(t, 50, 200, 1);

async function ingest(r: ServiceOutcome, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 10) {
    const res = await fetch(`${r.url}/v1/logs:ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ entries: ids.slice(i, i + 10).map((id) => ({ timestamp: new Date().toISOString(), level: 'INFO', message: `${id}|${PADDING}`, service: 'damage', env: 'test' })) }),
    });
    if (res.status !== 202) throw new Error(`ingest answered ${res.status}`);
  }
}

async function flush(r: ServiceOutcome): Promise<number> {
  const res = await fetch(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  await res.arrayBuffer();
  return res.status;
}

const received = (r: ServiceOutcome) => new Set(r.loki.received().map((e) => idOf(e.line)));

t.test('an older segment restored under a number past the last: set aside and kept, nothing reused, every entry delivered', async (t) => {
  const root = await copyOf(t, base);
  const segments = await segmentsOf(root);
  const restored = segments.at(-1)! + 1;
  await cp(segmentPath(root, segments[0]!), segmentPath(root, restored));
  const verify = await cliVerify(root);
  const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
  t.equal(verify.code, 1, 'verify exits 1');
  t.match(token?.findings, [{ severity: 'damage', message: new RegExp(`^segment ${restored}: its seqs \\d+-\\d+ overlap or go back behind segment`) }], 'verify reports the overlap');

  const r = await serviceRestart(t, root);
  t.same(base.pending.filter((id) => !r.received.has(id)), [], 'the backlog is delivered');
  const more = Array.from({ length: 60 }, (_, i) => `more${i}`);
  await ingest(r, more);
  t.equal(await flush(r), 200, 'a flush completes');
  t.same(more.filter((id) => !received(r).has(id)), [], 'entries appended after the start are delivered: their seqs are new');
  const text = await (await fetch(`${r.url}/metrics`)).text();
  t.match(text, new RegExp(`^wal_files_set_aside_total\\{token="${KEY}"\\} 1$`, 'm'), 'counted');
  t.notMatch(text, new RegExp(`^wal_corrupt_records_total\\{token="${KEY}"\\} [1-9]`, 'm'), 'nothing counted as lost');
  t.match(r.logs, new RegExp(`"file":"${String(restored).padStart(16, '0')}\\.wal","renamed_to":"${String(restored).padStart(16, '0')}\\.wal\\.set-aside"`), 'logged with its new name');
  t.ok((await readdir(tokenDir(root))).includes(`${String(restored).padStart(16, '0')}.wal.set-aside`), 'the copy is kept');
});

t.test('another key’s cursor that fits this key’s records is not trusted: delivery restarts at the oldest segment, nothing is deleted or lost', async (t) => {
  const root = await copyOf(t, base);
  const before = await segmentsOf(root);
  // What the other key's service wrote when it had delivered 150 entries, at the place its 151st
  // record starts: the same place as this key's 151st, traffic having one shape.
  const at = (await layout(root)).find((p) => p.seq === 151)!;
  const otherId = decodeHeader(await readFile(join(other.root, KEY, (await readdir(join(other.root, KEY))).find((n) => n.endsWith('.wal'))!)));
  t.type(otherId, 'object');
  await rm(join(tokenDir(root), 'cursor.json'));
  const foreign = new CursorFile(tokenDir(root));
  foreign.setWalId((otherId as SegmentHeader).walId!);
  await foreign.write({ segment: at.position.segment, offset: at.position.offset, ackedSeq: 150 });
  await foreign.close();
  const verify = await cliVerify(root);
  const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
  t.equal(token?.cursor?.used, false, 'verify: the cursor is not used');
  t.match(token?.cursor?.reason, /it belongs to another WAL \(id [0-9a-f]{16}; the segments' is [0-9a-f]{16}\)/);
  t.equal(token?.lost_entries, 0);

  const r = await serviceRestart(t, root);
  t.equal(r.flush, 200, 'a flush completes');
  t.same(base.pending.filter((id) => !r.received.has(id)), [], 'every acknowledged entry is delivered');
  t.equal(r.metric(`wal_cursor_resets_total{token="${KEY}"}`), 1, 'counted as a cursor reset');
  t.equal(r.logs.match(/it belongs to another WAL/g)?.length, 1, 'logged once');
  t.ok(before.indexOf(at.position.segment) > 0, 'segments before the foreign cursor held undelivered entries');
});

t.test('another key’s segment copied in is set aside as another WAL’s; the key’s own entries are delivered, none of the other’s', async (t) => {
  const root = await copyOf(t, base);
  const mine = await segmentsOf(root);
  const theirs = (await readdir(join(other.root, KEY))).filter((n) => n.endsWith('.wal')).sort();
  const copied = mine.at(-1)! + 1;
  await cp(join(other.root, KEY, theirs.at(-1)!), segmentPath(root, copied));
  const verify = await cliVerify(root);
  const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
  t.match(token?.findings, [{ severity: 'damage', message: new RegExp(`^segment ${copied}: it belongs to another WAL`) }], 'verify reports it');

  const r = await serviceRestart(t, root);
  t.equal(r.flush, 200, 'a flush completes');
  t.same(base.pending.filter((id) => !r.received.has(id)), [], 'every entry of the key is delivered');
  t.equal(r.loki.received().length, base.pending.length, 'and nothing of the other key');
  t.match(r.logs, /"renamed_to":"\d{16}\.wal\.set-aside","reason":"it belongs to another WAL/);
});

t.test('an older cursor restored from a backup: what it is behind was delivered, and is sent again, never counted as lost', async (t) => {
  const root = await copyOf(t, base);
  const backup = await readFile(join(tokenDir(root), 'cursor.json'));
  const first = await serviceRestart(t, root);
  t.same(base.pending.filter((id) => !first.received.has(id)), [], 'the backlog is delivered, and its segments deleted');
  first.loki.setStandingAnswer(lokiAnswers.unavailable());
  const late = Array.from({ length: 30 }, (_, i) => `late${i}`);
  await ingest(first, late);
  await first.service.stop(0);
  await writeFile(join(tokenDir(root), 'cursor.json'), backup);

  const verify = await cliVerify(root);
  const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
  t.equal(token?.lost_entries, 0, 'verify counts no loss');
  const r = await serviceRestart(t, root);
  t.equal(r.flush, 200, 'a flush completes');
  t.same(late.filter((id) => !r.received.has(id)), [], 'the entries acknowledged since are delivered');
  t.equal(r.metric(`wal_corrupt_records_total{token="${KEY}"}`) ?? 0, 0, 'nothing counted as lost');
  t.notMatch(r.logs, /entries lost/, 'nothing logged as lost');
});

t.test('damage at the end of the last segment after a clean stop is loss, counted and kept, not a crash’s torn tail', async (t) => {
  const root = await copyOf(t, base);
  const first = await serviceRestart(t, root);
  first.loki.setStandingAnswer(lokiAnswers.unavailable());
  const late = Array.from({ length: 30 }, (_, i) => `late${i}`);
  await ingest(first, late);
  await first.service.stop(0);
  // The last record's payload, one byte flipped: no good frame follows it.
  const last = (await segmentsOf(root)).at(-1)!;
  const size = (await readFile(segmentPath(root, last))).length;
  await flip(segmentPath(root, last), size - 20);

  const verify = await cliVerify(root);
  const token = verify.json?.tokens?.find((x: { name: string }) => x.name === KEY);
  t.equal(token?.lost_entries, 1, 'verify counts the acknowledged entry lost');
  const r = await serviceRestart(t, root);
  t.equal(r.flush, 200, 'a flush completes');
  t.same(late.filter((id) => !r.received.has(id)), ['late29'], 'every other entry is delivered');
  t.equal(r.metric(`wal_corrupt_records_total{token="${KEY}"}`), 1, 'counted as lost');
  t.equal(r.metric(`wal_torn_tail_bytes_total{token="${KEY}"}`), null, 'not taken for a torn tail');
  t.match(r.logs, /"entries_lost":1,.*"reason":"entries \d+-\d+ were acknowledged and are not on disk: the WAL ended at segment \d+ offset \d+ when the cursor was last written; the \d+ bytes cut are kept in \d{16}\.wal\.cut-\d+\.damaged"/, 'logged once, with where the bytes are kept');
  t.ok((await readdir(tokenDir(root))).some((n) => /\.wal\.cut-\d+\.damaged$/.test(n)), 'the bytes cut are kept');
});
