import t from 'tap';
import { cutBatch, holdMs } from '../../src/forwarder/batch-cut.js';
import { pushSize } from '../../src/loki/push-request.js';
import { shipped } from '../support/wal.js';

const payload = (i: number, lineBytes = 100) =>
  shipped({ seconds: 1_700_000_000 + i, nanos: 0, labels: `{service="s${i % 3}"}`, line: 'x'.repeat(lineBytes), structuredMetadata: [] });

t.test('cuts at the entry limit', async (t) => {
  const payloads = Array.from({ length: 50 }, (_, i) => payload(i));
  t.equal(cutBatch(payloads, { maxEntries: 20, maxBytes: 1 << 20 }).count, 20);
});

t.test('cuts before the encoded push would cross the byte limit', async (t) => {
  const payloads = Array.from({ length: 50 }, (_, i) => payload(i));
  const { count, bytes } = cutBatch(payloads, { maxEntries: 1000, maxBytes: 2000 });
  t.ok(bytes <= 2000);
  t.equal(bytes, pushSize(payloads.slice(0, count)), 'the size is the exact encoded size');
  t.ok(pushSize(payloads.slice(0, count + 1)) > 2000, 'one more would not fit');
});

t.test('a single entry over the byte limit still goes, alone', async (t) => {
  const { count } = cutBatch([payload(0, 5000), payload(1)], { maxEntries: 10, maxBytes: 1000 });
  t.equal(count, 1);
});

t.test('a small batch is held until its oldest entry has waited batch_max_wait_ms', async (t) => {
  const limits = { maxEntries: 100, maxBytes: 10_000, maxWaitMs: 200 };
  t.equal(holdMs({ entries: 5, bytes: 500, oldestAppendedAtMs: 1000, nowMs: 1050, flushing: false }, limits), 150);
  t.equal(holdMs({ entries: 5, bytes: 500, oldestAppendedAtMs: 1000, nowMs: 1300, flushing: false }, limits), 0, 'waited long enough');
  t.equal(holdMs({ entries: 100, bytes: 500, oldestAppendedAtMs: 1000, nowMs: 1000, flushing: false }, limits), 0, 'full by entries');
  t.equal(holdMs({ entries: 5, bytes: 6000, oldestAppendedAtMs: 1000, nowMs: 1000, flushing: false }, limits), 0, 'half full by bytes');
  t.equal(holdMs({ entries: 1, bytes: 10, oldestAppendedAtMs: 1000, nowMs: 1000, flushing: true }, limits), 0, 'a flush sends at once');
});
