import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { TokenWal } from '../../src/wal/types.js';
import { spawnTs } from '../support/child.js';
import { openWal, recordingObserver } from '../support/wal.js';

const WORKER = fileURLToPath(new URL('../fixtures/wal-worker.ts', import.meta.url));
const ROUNDS = Number(process.env.LOGSTACK_CRASH_ROUNDS ?? 4);

async function readAll(wal: TokenWal): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let pos = wal.cursor;
  for (;;) {
    const r = await wal.read(pos, { maxRecords: 5000, maxBytes: 8 << 20 });
    if (r.records.length === 0) return out;
    for (const rec of r.records) out.set(rec.seq, rec.entry.toString().split('|')[0]!);
    pos = r.next;
  }
}

t.test(`SIGKILL during appends, rotations, cursor writes and deletions loses no acknowledged record (${ROUNDS} rounds)`, async (t) => {
  const root = t.testdir();
  const acknowledged = new Map<string, Map<number, string>>([['alpha', new Map()], ['beta', new Map()]]);
  for (let round = 0; round < ROUNDS; round++) {
    const child = spawnTs(WORKER, [root, 'append', '8192']);
    await child.waitForLine(/^open$/);
    await new Promise((r) => setTimeout(r, 150 + Math.random() * 500));
    child.proc.kill('SIGKILL');
    await child.exited;
    for (const line of child.lines) {
      const m = /^appended (\w+) (\d+) (.+)$/.exec(line);
      if (!m) continue;
      m[3]!.split(',').forEach((id, i) => acknowledged.get(m[1]!)!.set(Number(m[2]) + i, id));
    }

    const { observer, events } = recordingObserver();
    const store = await openWal(root, { observer, segmentMaxBytes: 8192 });
    for (const [token, acked] of acknowledged) {
      const wal = store.token(token);
      const present = await readAll(wal);
      const ackedSeq = wal.stats().ackedSeq;
      let lost = 0;
      for (const [seq, id] of acked) {
        if (seq <= ackedSeq) continue;
        if (present.get(seq) !== id) lost++;
      }
      t.equal(lost, 0, `round ${round} ${token}: ${acked.size} acknowledged, none lost (delivered up to seq ${ackedSeq}, ${present.size} pending)`);
    }
    t.same(events.damage, [], `round ${round}: no damage, only torn tails (${events.tornTails.length})`);
    await store.close();
  }
  t.ok([...acknowledged.values()].every((m) => m.size > 0), 'every token had acknowledged appends');
});

t.test('a second process on the same WAL root is refused with a clear error; a dead holder is taken over', async (t) => {
  const root = t.testdir();
  const holder = spawnTs(WORKER, [root, 'hold']);
  await holder.waitForLine(/^open$/);
  await t.rejects(openWal(root), { code: 'LOGSTACK_ERR_WAL_LOCKED', message: /locked by another LogStack process/ });
  holder.proc.kill('SIGKILL');
  await holder.exited;
  const store = await openWal(root);
  t.equal(store.state, 'open', 'the lock of a SIGKILLed process goes stale and is taken over');
  await store.close();
});
