/**
 * The behaviour every WalStore implementation owes its callers. Run against each
 * implementation from its own test file.
 */
import type { Test } from 'tap';
import { isLogstackError } from '../../src/errors.js';
import type { TokenWal, WalPosition, WalStore } from '../../src/wal/types.js';
import { entries, payload } from '../support/wal.js';

export interface WalFactory {
  /** A fresh, open store over `dir` holding tokens `alpha` and `beta`. */
  open(dir: string, opts?: { segmentMaxBytes?: number; quotaBytes?: number }): Promise<WalStore>;
}

async function readAll(wal: TokenWal, from: WalPosition = wal.cursor) {
  const out = [];
  let pos = from;
  for (;;) {
    const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 20 });
    out.push(...r.records);
    if (r.records.length === 0) return { records: out, next: r.next };
    pos = r.next;
  }
}

export function walCompliance(t: Test, factory: WalFactory): void {
  t.test('appended records read back in order with consecutive seqs', async (t) => {
    const store = await factory.open(t.testdir());
    const wal = store.token('alpha');
    const r1 = await wal.append(entries([payload(1), payload(2)]));
    const r2 = await wal.append(entries([payload(3)]));
    t.same([r1, r2], [{ firstSeq: 1, lastSeq: 2 }, { firstSeq: 3, lastSeq: 3 }]);
    const { records } = await readAll(wal);
    t.same(records.map((r) => r.entry.toString()), [1, 2, 3].map((i) => payload(i).toString()));
    t.same(records.map((r) => r.seq), [1, 2, 3]);
    t.same(wal.stats().pendingEntries, 3);
    await store.close();
  });

  t.test('tokens are independent', async (t) => {
    const store = await factory.open(t.testdir());
    await store.token('alpha').append(entries([payload(1)]));
    t.same((await readAll(store.token('beta'))).records.length, 0);
    t.same(store.token('beta').stats().pendingEntries, 0);
    await store.close();
  });

  t.test('concurrent appends all resolve, each with its own contiguous range', async (t) => {
    const store = await factory.open(t.testdir());
    const wal = store.token('alpha');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append(entries([payload(i * 2), payload(i * 2 + 1)]))));
    const seqs = results.flatMap((r) => [r.firstSeq, r.lastSeq]).sort((a, b) => a - b);
    t.same(seqs, Array.from({ length: 100 }, (_, i) => i + 1));
    const { records } = await readAll(wal);
    for (const [i, r] of results.entries()) {
      t.equal(records[r.firstSeq - 1]!.entry.toString(), payload(i * 2).toString());
    }
    await store.close();
  });

  t.test('reads span rotated segments and stop at the durable end', async (t) => {
    const store = await factory.open(t.testdir(), { segmentMaxBytes: 4096 });
    const wal = store.token('alpha');
    for (let i = 0; i < 100; i++) await wal.append(entries([payload(i, 200)]));
    t.ok(wal.stats().segments > 3, 'rotated into several segments');
    const { records, next } = await readAll(wal);
    t.equal(records.length, 100);
    t.same(next, wal.durableEnd);
    await store.close();
  });

  t.test('a read honours its record and byte limits but returns at least one record', async (t) => {
    const store = await factory.open(t.testdir());
    const wal = store.token('alpha');
    await wal.append(entries(Array.from({ length: 10 }, (_, i) => payload(i, 1000))));
    t.equal((await wal.read(wal.cursor, { maxRecords: 3, maxBytes: 1 << 20 })).records.length, 3);
    t.equal((await wal.read(wal.cursor, { maxRecords: 100, maxBytes: 2500 })).records.length, 3);
    t.equal((await wal.read(wal.cursor, { maxRecords: 100, maxBytes: 1 })).records.length, 1);
    await store.close();
  });

  t.test('ack persists the cursor; a reopened WAL resumes after it', async (t) => {
    const dir = t.testdir();
    let store = await factory.open(dir);
    let wal = store.token('alpha');
    await wal.append(entries([payload(1), payload(2), payload(3)]));
    const { records } = await wal.read(wal.cursor, { maxRecords: 2, maxBytes: 1 << 20 });
    await wal.ack(records[1]!.next, records[1]!.seq);
    t.equal(wal.stats().pendingEntries, 1);
    await store.close();

    store = await factory.open(dir);
    wal = store.token('alpha');
    const rest = await readAll(wal);
    t.same(rest.records.map((r) => r.seq), [3]);
    t.equal(wal.stats().pendingEntries, 1);
    const r = await wal.append(entries([payload(4)]));
    t.equal(r.firstSeq, 4, 'seqs continue after a reopen');
    await store.close();
  });

  t.test('acknowledged sealed segments are deleted; unacknowledged ones stay', async (t) => {
    const store = await factory.open(t.testdir(), { segmentMaxBytes: 4096 });
    const wal = store.token('alpha');
    for (let i = 0; i < 60; i++) await wal.append(entries([payload(i, 200)]));
    const before = wal.stats().segments;
    const { records } = await wal.read(wal.cursor, { maxRecords: 30, maxBytes: 1 << 20 });
    await wal.ack(records.at(-1)!.next, records.at(-1)!.seq);
    const after = wal.stats();
    t.ok(after.segments < before, 'delivered segments deleted');
    t.equal(after.pendingEntries, 30);
    t.same((await readAll(wal)).records.map((r) => r.seq), Array.from({ length: 30 }, (_, i) => i + 31));
    await store.close();
  });

  t.test('once everything is acknowledged, nothing is reported pending, at no moment in between', async (t) => {
    const store = await factory.open(t.testdir(), { segmentMaxBytes: 4096 });
    const wal = store.token('alpha');
    for (let i = 0; i < 60; i++) await wal.append(entries([payload(i, 200)]));
    const { records, next } = await readAll(wal);
    // Watched on every turn of the event loop while the ack runs (cursor write, segment deletes).
    const seen: Array<{ ackedSeq: number; oldest: number | null }> = [];
    let acking = true;
    const watch = async () => {
      while (acking) {
        const s = wal.stats();
        seen.push({ ackedSeq: s.ackedSeq, oldest: s.oldestPendingAppendedAtMs });
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const watching = watch();
    await wal.ack(next, records.at(-1)!.seq);
    acking = false;
    await watching;
    const inconsistent = seen.filter((s) => s.ackedSeq === 60 && s.oldest !== null);
    t.same(inconsistent, [], 'an oldest pending entry is never reported beside a cursor past all of them');
    t.equal(wal.stats().oldestPendingAppendedAtMs, null);
    await store.close();
  });

  t.test('the quota refuses new data with 429 and keeps what was accepted', async (t) => {
    const store = await factory.open(t.testdir(), { quotaBytes: 1024 * 1024 });
    const wal = store.token('alpha');
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 2000 && !refusal; i++) {
      try {
        await wal.append(entries([payload(i, 10_000)]));
        accepted++;
      } catch (err) {
        refusal = err;
      }
    }
    t.ok(isLogstackError(refusal, 'WAL_QUOTA_EXCEEDED'), 'quota error');
    t.equal((refusal as { status: number }).status, 429);
    t.equal((await readAll(wal)).records.length, accepted, 'everything accepted is kept');
    t.same(await store.token('beta').append(entries([payload(1)])), { firstSeq: 1, lastSeq: 1 }, 'other tokens unaffected');
    await store.close();
  });

  t.test('waitForData resolves when a record becomes durable', async (t) => {
    const store = await factory.open(t.testdir());
    const wal = store.token('alpha');
    let woke = false;
    const waiting = wal.waitForData(wal.durableEnd).then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    t.equal(woke, false);
    await wal.append(entries([payload(1)]));
    await waiting;
    t.equal(woke, true);
    const ac = new AbortController();
    const aborted = wal.waitForData(wal.durableEnd, ac.signal);
    ac.abort();
    await aborted;
    await store.close();
  });

  t.test('calls after close are refused with a coded error', async (t) => {
    const store = await factory.open(t.testdir());
    const wal = store.token('alpha');
    await store.close();
    await store.close();
    t.equal(store.state, 'closed');
    await t.rejects(wal.append(entries([payload(1)])), { code: 'LOGSTACK_ERR_WAL_NOT_OPEN' });
    t.throws(() => store.token('alpha'), { code: 'LOGSTACK_ERR_WAL_NOT_OPEN' });
  });
}
