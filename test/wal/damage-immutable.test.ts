/**
 * Segments the file system will not let LogStack change: made immutable (`chattr +i`, as root)
 * as a backup tool or an operator may leave them. The last one is read all the same and sealed,
 * appends go to a new segment; one that cannot be deleted once delivered is reported as such.
 * The WAL is a real one left by SIGKILL; the service restarts on a copy. Needs root and a file
 * system with the immutable attribute: skipped without them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { ADMIN, PADDING, TOKEN, copyOf, crashedWal, idOf, segmentPath, segmentsOf, serviceRestart } from '../support/crashed-wal.js';

t.setTimeout(300_000);

function chattr(flag: '+i' | '-i', file: string): boolean {
  try {
    execFileSync('chattr', [flag, file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function canMakeImmutable(): boolean {
  const probe = join(mkdtempSync(join(tmpdir(), 'logstack-chattr-')), 'probe');
  writeFileSync(probe, '');
  const ok = chattr('+i', probe) && chattr('-i', probe);
  rmSync(dirname(probe), { recursive: true, force: true });
  return ok;
}
const SKIP = canMakeImmutable() ? false : 'needs root and a file system with the immutable attribute (chattr +i); skipped here';

const base = await crashedWal(t, 50, 200);

async function immutable(t: Test, which: 'first' | 'last'): Promise<{ root: string; segment: number }> {
  const root = await copyOf(t, base);
  const segments = await segmentsOf(root);
  const segment = which === 'first' ? segments[0]! : segments.at(-1)!;
  if (!chattr('+i', segmentPath(root, segment))) throw new Error('chattr +i failed');
  // Before the copy's own teardown (registered earlier, run later): it could not delete the file.
  t.teardown(() => void chattr('-i', segmentPath(root, segment)));
  return { root, segment };
}

t.test('an immutable last segment: its entries are delivered, it is sealed, and appends go on in a new segment', { skip: SKIP }, async (t) => {
  const made = await immutable(t, 'last');
  const r = await serviceRestart(t, made.root);
  t.equal(r.flush, 200, 'a flush completes');
  t.same(base.pending.filter((id) => !r.received.has(id)), [], 'every acknowledged entry is delivered');
  t.match(r.logs, new RegExp(`segment ${made.segment} cannot be written; it is sealed and appends go to a new segment \\(EPERM\\)`), 'the log says what failed');
  const res = await fetch(`${r.url}/v1/logs:ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message: `after|${PADDING}`, service: 'damage', env: 'test' }] }),
  });
  t.equal(res.status, 202, 'the key takes appends');
  const flushed = await fetch(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=20`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  t.equal(flushed.status, 200);
  t.ok(r.loki.received().some((e) => idOf(e.line) === 'after'), 'and delivers them');
  t.ok((await segmentsOf(made.root)).at(-1)! > made.segment, 'in a new segment');
});

t.test('an immutable oldest segment: delivered, and the failure to delete it says so', { skip: SKIP }, async (t) => {
  const made = await immutable(t, 'first');
  const r = await serviceRestart(t, made.root);
  t.equal(r.flush, 200, 'a flush completes');
  t.same(base.pending.filter((id) => !r.received.has(id)), [], 'every acknowledged entry is delivered');
  t.match(r.logs, new RegExp(`the delivered segment ${made.segment} cannot be deleted; tried again at the next acknowledgement \\(EPERM\\)`), 'the log says what failed');
  t.notMatch(r.logs, /scandir/, 'not a misleading failure to list a folder');
});
