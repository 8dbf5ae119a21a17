/**
 * Files restored from a backup or copied in from another key's folder: records are the truth,
 * metadata a hint, and a file that does not fit the records is set aside, never trusted. The
 * WAL is a real one left by SIGKILL (test/support/crashed-wal.ts); each case damages a copy,
 * restarts the real service on it against a healthy Loki stand-in, appends and flushes, and
 * checks what reached Loki, what was counted and logged, and that `logstack wal verify` said
 * the same before the start.
 */
import { cp, readdir } from 'node:fs/promises';
import t from 'tap';
import { ADMIN, KEY, PADDING, TOKEN, cliVerify, copyOf, crashedWal, idOf, segmentPath, segmentsOf, serviceRestart, tokenDir, type ServiceOutcome } from '../support/crashed-wal.js';

t.setTimeout(300_000);

const base = await crashedWal(t, 50, 200);

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
