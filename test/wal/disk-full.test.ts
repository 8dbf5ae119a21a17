/**
 * ENOSPC on a real, small filesystem (tmpfs; needs root to mount, skipped otherwise): the code
 * paths are the ones production runs, not an injected fs layer.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { TokenWal, WalStore } from '../../src/wal/types.js';
import { mountTmpfs } from '../support/tmpfs.js';
import { entries, openWal, payload, recordingObserver } from '../support/wal.js';

const tmpfs = mountTmpfs(1024 * 1024);
if (!tmpfs) {
  t.plan(0, 'ENOSPC tests need to mount a tmpfs (root); skipped here');
} else {
  const mountPoint = tmpfs.path;
  t.teardown(() => tmpfs.unmount());

  async function pending(wal: TokenWal): Promise<number> {
    let n = 0;
    let pos = wal.cursor;
    for (;;) {
      const r = await wal.read(pos, { maxRecords: 1000, maxBytes: 1 << 20 });
      if (r.records.length === 0) return n;
      n += r.records.length;
      pos = r.next;
    }
  }

  t.test('a write that hits ENOSPC is refused with 503, leaves no half record, and the WAL recovers when space returns', async (t) => {
    const root = join(mountPoint, 'wal');
    const { observer, events } = recordingObserver();
    let store: WalStore = await openWal(root, { observer, segmentMaxBytes: 4 << 20 });
    const wal = store.token('alpha');
    let accepted = 0;
    for (let i = 0; i < 20; i++) {
      await wal.append(entries([payload(i, 10_000)]));
      accepted++;
    }
    // Fill the volume behind the WAL's back, faster than its free-space refresh can notice.
    const filler = join(mountPoint, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(2 << 20));
    } catch {
      // ENOSPC once the volume is full: exactly what we want.
    }
    await t.rejects(wal.append(entries([payload(999, 50_000)])), { code: 'LOGSTACK_ERR_WAL_UNAVAILABLE', status: 503, message: /ENOSPC/ });
    t.ok(events.writeFailures.length >= 1, 'the failure is reported');
    t.equal(wal.stats().failed, null, 'a write failure that was undone does not fail the WAL');

    rmSync(filler);
    t.same(await wal.append(entries([payload(20, 1000)])), { firstSeq: 21, lastSeq: 21 }, 'appends succeed again once there is space');
    accepted++;
    await store.close();

    const reopened = recordingObserver();
    store = await openWal(root, { observer: reopened.observer, segmentMaxBytes: 4 << 20 });
    t.equal(await pending(store.token('alpha')), accepted, 'every accepted record is there');
    t.same(reopened.events.tornTails, [], 'no half record was left behind');
    t.same(reopened.events.damage, []);
    await store.close();
  });
}
