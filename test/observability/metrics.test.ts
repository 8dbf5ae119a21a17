import t from 'tap';
import { createMetrics, walObserver } from '../../src/observability/metrics.js';
import { entries, openWal, payload } from '../support/wal.js';

const NAMES = [
  'logs_ingested_total',
  'logs_rejected_total',
  'http_requests_total',
  'http_request_duration_seconds',
  'http_requests_in_flight',
  'wal_segments_active',
  'wal_disk_usage_bytes',
  'wal_quota_bytes',
  'wal_pending_entries',
  'rate_limit_exceeded_total',
  'wal_fsync_duration_seconds',
  'wal_corrupt_records_total',
  'wal_torn_tail_bytes_total',
];

t.test("the original service's metric names, each in its own registry", async (t) => {
  const a = createMetrics();
  const b = createMetrics();
  const text = await a.registry.metrics();
  for (const name of NAMES) t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  t.match(text, /^# TYPE process_resident_memory_bytes gauge$/m, 'default process metrics');
  a.logsIngested.inc({ token: 'app' }, 5);
  t.notMatch(await b.registry.metrics(), /logs_ingested_total\{/, 'registries do not share series');
});

t.test('WAL gauges read the WAL at scrape time, by token name', async (t) => {
  const metrics = createMetrics();
  const wal = await openWal(t.testdir(), { tokens: ['alpha', 'beta'], quotaBytes: (name) => (name === 'alpha' ? 2 * 1024 * 1024 : 1024 * 1024) });
  try {
    metrics.readWalFrom(wal);
    await wal.token('alpha').append(entries([payload(1), payload(2), payload(3)]));

    const text = await metrics.registry.metrics();
    t.match(text, /^wal_pending_entries\{token="alpha"\} 3$/m);
    t.match(text, /^wal_pending_entries\{token="beta"\} 0$/m);
    t.match(text, /^wal_quota_bytes\{token="alpha"\} 2097152$/m);
    t.match(text, /^wal_segments_active\{token="alpha"\} 1$/m);
    t.match(text, /^wal_disk_usage_bytes\{token="alpha"\} [1-9]\d*$/m);

    await wal.token('beta').append(entries([payload(4)]));
    t.match(await metrics.registry.metrics(), /^wal_pending_entries\{token="beta"\} 1$/m, 'fresh at the next scrape');
  } finally {
    // Before t.testdir() is removed, which happens before teardowns run.
    await wal.close();
  }
});

t.test("the WAL's events as metrics", async (t) => {
  const metrics = createMetrics();
  const observer = walObserver(metrics);
  observer.fsync?.(0.002);
  observer.fsync?.(0.2);
  observer.damage?.('alpha', { entries: 2, segment: 3, offset: 4096, bytes: 300, reason: 'CRC mismatch' });
  observer.tornTail?.('alpha', 3, 117);
  const text = await metrics.registry.metrics();
  t.match(text, /^wal_fsync_duration_seconds_count 2$/m);
  t.match(text, /^wal_fsync_duration_seconds_bucket\{le="0\.0025"\} 1$/m);
  t.match(text, /^wal_corrupt_records_total\{token="alpha"\} 2$/m);
  t.match(text, /^wal_torn_tail_bytes_total\{token="alpha"\} 117$/m);
});
