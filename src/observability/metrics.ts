/**
 * LogStack's Prometheus metrics. The names of the original service are kept so that its
 * dashboards keep working. Every `token` label is a key's configured name, never its secret.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TokenWalStats, WalObserver, WalStore } from '../wal/types.js';
import { tokenGauge } from './token-gauge.js';

export interface Metrics {
  /** Own registry, so that several instances (tests, embedders) never share series. */
  readonly registry: Registry;
  readonly logsIngested: Counter<'token'>;
  readonly logsRejected: Counter<'token' | 'reason'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly httpRequestsInFlight: Gauge;
  /** Connections closed by the connection cap: `evicted` for a newcomer, `refused` on arrival. */
  readonly httpConnectionsClosed: Counter<'reason'>;
  readonly rateLimitExceeded: Counter<'token'>;
  readonly walFsyncDuration: Histogram;
  readonly walCorruptRecords: Counter<'token'>;
  readonly walTornTailBytes: Counter<'token'>;
  readonly walCursorResets: Counter<'token'>;
  readonly walFilesSetAside: Counter<'token'>;
  readonly walWriteFailures: Counter<'token'>;
  /** 1 when the last configuration reload (or the start) succeeded, 0 when it failed. */
  readonly configLastReloadSuccessful: Gauge;
  readonly configLastReloadSuccessTimestamp: Gauge;
  /** 1 when the listener took the last change of its certificate files, 0 when it kept the previous ones. */
  readonly tlsLastReloadSuccessful: Gauge;
  /** notAfter of the certificate the listener serves. */
  readonly tlsCertificateExpiry: Gauge;
  /** Makes the WAL gauges read this store's stats at every scrape. */
  readWalFrom(wal: WalStore): void;
  /** Makes the HTTP edge's gauges read these at every scrape. */
  readEdgeFrom(edge: EdgeGauges): void;
}

/** What the HTTP edge holds now. */
export interface EdgeGauges {
  openConnections(): number;
  bodyBytesInFlight(): number;
  /** By key name, the keys whose requests hold body bytes now. */
  bodyBytesInFlightByKey(): ReadonlyMap<string, number>;
}

/** Gauges computed from the WAL at scrape time, so they can never drift from the disk. */
const WAL_GAUGES: ReadonlyArray<readonly [name: string, help: string, read: (s: TokenWalStats, nowMs: number) => number]> = [
  ['wal_segments_active', 'Segment files in the WAL of a token', (s) => s.segments],
  ['wal_disk_usage_bytes', 'Bytes of the segment files of a token', (s) => s.diskBytes],
  ['wal_quota_bytes', 'WAL quota of a token in bytes', (s) => s.quotaBytes],
  ['wal_pending_entries', 'Entries appended and not yet acknowledged by Loki', (s) => s.pendingEntries],
  ['wal_backlog_bytes', 'WAL bytes not yet delivered to Loki', (s) => s.pendingBytes],
  [
    'wal_oldest_unshipped_age_seconds',
    'Age of the oldest entry not yet delivered to Loki (0 when none)',
    (s, nowMs) => (s.oldestPendingAppendedAtMs === null ? 0 : Math.max(0, (nowMs - s.oldestPendingAppendedAtMs) / 1000)),
  ],
];

// A request fsyncs once (shared with concurrent ones): 1 ms on NVMe, up to ~100 ms on busy disks.
const HTTP_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const FSYNC_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let wal: WalStore | undefined;
  let edge: EdgeGauges | undefined;
  new Gauge({
    name: 'http_connections_open',
    help: 'HTTP connections open now (at most server.max_connections)',
    registers,
    collect() {
      this.set(edge?.openConnections() ?? 0);
    },
  });
  new Gauge({
    name: 'http_body_bytes_in_flight',
    help: 'Bytes of request bodies held now, as sent, decompressed and decoded (at most limits.max_body_bytes_in_flight)',
    registers,
    collect() {
      this.set(edge?.bodyBytesInFlight() ?? 0);
    },
  });

  tokenGauge(
    registry,
    'http_body_bytes_in_flight_by_token',
    "Bytes of request bodies the requests of a key hold now (at most limits.max_body_bytes_in_flight_per_key); keys that hold none are not listed",
    () => edge?.bodyBytesInFlightByKey() ?? [],
  );

  for (const [name, help, read] of WAL_GAUGES) {
    tokenGauge(registry, name, help, () => {
      const nowMs = Date.now();
      return (wal?.tokens() ?? []).map((token) => {
        const stats = token.stats();
        return [stats.name, read(stats, nowMs)] as const;
      });
    });
  }

  return {
    registry,
    logsIngested: new Counter({ name: 'logs_ingested_total', help: 'Entries accepted (durable in the WAL)', labelNames: ['token'], registers }),
    logsRejected: new Counter({
      name: 'logs_rejected_total',
      help: 'Entries refused, by API error code; a refused request without a readable list of entries counts as 1',
      labelNames: ['token', 'reason'],
      registers,
    }),
    httpRequests: new Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers }),
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to response',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_SECONDS_BUCKETS,
      registers,
    }),
    httpRequestsInFlight: new Gauge({ name: 'http_requests_in_flight', help: 'HTTP requests being processed', registers }),
    httpConnectionsClosed: new Counter({
      name: 'http_connections_closed_total',
      help: 'Connections closed by the server: evicted for a new one or refused on arrival (server.max_connections), or for pipelining past server.max_pipelined_requests',
      labelNames: ['reason'],
      registers,
    }),
    rateLimitExceeded: new Counter({ name: 'rate_limit_exceeded_total', help: 'Requests refused by the per-token rate limit', labelNames: ['token'], registers }),
    walFsyncDuration: new Histogram({ name: 'wal_fsync_duration_seconds', help: 'Duration of WAL fsyncs', buckets: FSYNC_SECONDS_BUCKETS, registers }),
    walCorruptRecords: new Counter({
      name: 'wal_corrupt_records_total',
      help: 'Entries lost to WAL damage (records failing their CRC, unreadable label sets, files cut or removed), counted once when found',
      labelNames: ['token'],
      registers,
    }),
    walTornTailBytes: new Counter({
      name: 'wal_torn_tail_bytes_total',
      help: 'Bytes of torn segment tails truncated at recovery',
      labelNames: ['token'],
      registers,
    }),
    walCursorResets: new Counter({
      name: 'wal_cursor_resets_total',
      help: 'Delivery cursors found unreadable or not agreeing with the segments at start; delivery restarted at the oldest segment',
      labelNames: ['token'],
      registers,
    }),
    walFilesSetAside: new Counter({
      name: 'wal_files_set_aside_total',
      help: 'Files and folders renamed out of the WAL’s way at start and kept: segments whose seqs overlap the others’, something else where the cursor file or the dead-letter folder goes',
      labelNames: ['token'],
      registers,
    }),
    walWriteFailures: new Counter({
      name: 'wal_write_failures_total',
      help: 'WAL writes, fsyncs, rotations, cursor writes or directory opens that failed',
      labelNames: ['token'],
      registers,
    }),
    // Prometheus' own names for the same facts, so that alerts written for it read alike.
    configLastReloadSuccessful: new Gauge({
      name: 'logstack_config_last_reload_successful',
      help: 'Whether the last configuration reload (SIGHUP, or a watched file changing) succeeded; 1 since the start until one fails',
      registers,
    }),
    configLastReloadSuccessTimestamp: new Gauge({
      name: 'logstack_config_last_reload_success_timestamp_seconds',
      help: 'When the configuration was last loaded successfully, at start or by a reload (Unix seconds)',
      registers,
    }),
    tlsLastReloadSuccessful: new Gauge({
      name: 'logstack_tls_last_reload_successful',
      help: 'Whether the listener took the last change of its certificate files (1), or kept serving the previous certificate (0); 0 without HTTPS',
      registers,
    }),
    tlsCertificateExpiry: new Gauge({
      name: 'logstack_tls_certificate_expiry_timestamp_seconds',
      help: 'When the certificate the listener serves expires (its notAfter, Unix seconds); 0 without HTTPS',
      registers,
    }),
    readWalFrom(store) {
      wal = store;
    },
    readEdgeFrom(gauges) {
      edge = gauges;
    },
  };
}

/** The WAL's events as metrics. */
export function walObserver(metrics: Metrics): WalObserver {
  return {
    fsync: (seconds) => metrics.walFsyncDuration.observe(seconds),
    damage: (token, damage) => metrics.walCorruptRecords.inc({ token }, damage.entries),
    tornTail: (token, _segment, bytesTruncated) => metrics.walTornTailBytes.inc({ token }, bytesTruncated),
    cursorReset: (token) => metrics.walCursorResets.inc({ token }),
    renamedAside: (token) => metrics.walFilesSetAside.inc({ token }),
    writeFailed: (token) => metrics.walWriteFailures.inc({ token }),
  };
}
