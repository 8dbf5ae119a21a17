/**
 * The OpenTelemetry JS SDK pointed at a real LogStack: its OTLP/HTTP exporters (JSON, and
 * protobuf, plain and gzip) send through `POST /v1/logs`, and what reaches Loki (the stand-in)
 * is what Loki's own OTLP endpoint makes of the same records, masked. The WAL's bytes on disk
 * never hold a masked secret; a partial success keeps the good records; a 429 is retried by the
 * exporter itself until it gets through.
 */
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, SeverityNumber, trace, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import t, { type Test } from 'tap';
import { createLogger } from '../../../src/observability/logger.js';
import { LogstackService } from '../../../src/service.js';
import { testConfig } from '../../support/config.js';
import { createLokiStandIn, type LokiStandIn, type ReceivedEntry } from '../../support/loki-stand-in.js';

const TOKEN = 'tok_checkout_0123456789abcdef';
const TENANT = 'team-checkout';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

interface Running {
  readonly url: string;
  readonly loki: LokiStandIn;
  readonly root: string;
  readonly service: LogstackService;
}

async function run(t: Test, overrides: Record<string, Record<string, unknown>> = {}): Promise<Running> {
  const loki = createLokiStandIn();
  await loki.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-otlp-sdk-'));
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2 },
    security: { api_keys: { [TOKEN]: { name: 'checkout', tenant: TENANT, ...overrides.key } } },
    wal: { wal_root_path: root, lock_stale_seconds: 2 },
    loki: { base_url: loki.url, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 200 },
    ...Object.fromEntries(Object.entries(overrides).filter(([section]) => section !== 'key')),
  });
  const service = new LogstackService({ config, logger: createLogger({ level: 'silent' }), version: 'test' });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await loki.close();
    await rm(root, { recursive: true, force: true });
  });
  return { url, loki, root, service };
}

/** Every byte of every file under `dir`: what a disk holds. */
async function bytesUnder(dir: string): Promise<Buffer> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
  return Buffer.concat(await Promise.all(files.map((file) => readFile(join(file.parentPath, file.name)))));
}

/** The SDK's exporter, with every export's result kept. */
class Recording implements LogRecordExporter {
  readonly results: ExportResult[] = [];
  readonly inner: LogRecordExporter;
  constructor(inner: LogRecordExporter) {
    this.inner = inner;
  }
  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    this.inner.export(records, (result) => {
      this.results.push(result);
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
}

type ExporterKind = 'json' | 'protobuf' | 'protobuf+gzip';

function exporter(kind: ExporterKind, url: string, authorization: string): Recording {
  // A generous timeout: the exporter gives up retrying when Retry-After would pass it.
  const options = { url: `${url}/v1/logs`, headers: { authorization }, timeoutMillis: 30_000 };
  if (kind === 'json') return new Recording(new JsonExporter(options));
  return new Recording(new ProtoExporter(kind === 'protobuf+gzip' ? { ...options, compression: 'gzip' as never } : options));
}

/** A provider as applications set one up: a batch processor, whose forceFlush waits for the export. */
function provider(recording: Recording, attributes: Record<string, string>): LoggerProvider {
  return new LoggerProvider({ resource: resourceFromAttributes(attributes), processors: [new BatchLogRecordProcessor({ exporter: recording })] });
}

/** Seconds and nanoseconds of a few seconds ago, with sub-millisecond digits that must survive. */
function recent(offsetMs: number): [number, number] {
  const ms = Date.now() - 5000 + offsetMs;
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000 + 123_457];
}

function tsNs([seconds, nanos]: [number, number]): string {
  return (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();
}

function byLine(entries: readonly ReceivedEntry[]): Record<string, ReceivedEntry> {
  return Object.fromEntries(entries.map((entry) => [entry.line, entry]));
}

for (const kind of ['json', 'protobuf', 'protobuf+gzip'] as const) {
  t.test(`the SDK's ${kind} exporter: Loki gets Loki's OTLP mapping, masked, to the nanosecond`, async (t) => {
    const r = await run(t);
    const recording = exporter(kind, r.url, `Bearer ${TOKEN}`);
    const logs = provider(recording, { 'service.name': 'checkout', 'k8s.namespace.name': 'shop', 'host.name': 'node-1', 'process.pid': '4242' });
    const logger = logs.getLogger('checkout.payments', '2.1.0');
    const spanContext = { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED };
    const first = recent(0);
    const second = recent(1);
    logger.emit({
      timestamp: first,
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body: 'payment failed for card 4111 1111 1111 1111',
      attributes: { 'http.request.header.authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc', 'order.id': 'O-7', 'user.email': 'jane.doe@example.com' },
      context: trace.setSpanContext(context.active(), spanContext),
    });
    logger.emit({
      timestamp: second,
      severityNumber: SeverityNumber.INFO,
      body: { event: 'login', user: { name: 'jane', password: 'hunter2' }, attempts: 2 },
      attributes: { 'db.password': 's3cret', retries: 3 },
    });
    await logs.forceFlush();
    t.same(
      recording.results.map((result) => result.code),
      [ExportResultCode.SUCCESS],
      'one export of both records, answered 200',
    );
    await r.loki.waitFor(2);

    const received = byLine(r.loki.received(TENANT));
    const failed = received['payment failed for card ****1111'];
    t.ok(failed, 'the string body is the line, masked by the value patterns');
    t.same(failed!.labels, { service_name: 'checkout', k8s_namespace_name: 'shop' }, "Loki's default index labels, dots as underscores");
    t.equal(failed!.tsNs, tsNs(first), 'time_unix_nano to the nanosecond');
    t.same(failed!.structuredMetadata, {
      http_request_header_authorization: 'Beare****',
      order_id: 'O-7',
      user_email: 'j******e@example.com',
      observed_timestamp: failed!.structuredMetadata.observed_timestamp,
      severity_number: '17',
      severity_text: 'ERROR',
      flags: '1',
      trace_id: TRACE_ID,
      span_id: SPAN_ID,
      host_name: 'node-1',
      process_pid: '4242',
      scope_name: 'checkout.payments',
      scope_version: '2.1.0',
    });
    t.match(failed!.structuredMetadata.observed_timestamp, /^\d{19}$/);

    const login = received['{"attempts":2,"event":"login","user":{"name":"jane","password":"****"}}'];
    t.ok(login, 'a map body is its JSON, keys sorted as Loki writes it, masked by key at any depth');
    t.same(login!.structuredMetadata, {
      db_password: '****',
      retries: '3',
      observed_timestamp: login!.structuredMetadata.observed_timestamp,
      severity_number: '9',
      host_name: 'node-1',
      process_pid: '4242',
      scope_name: 'checkout.payments',
      scope_version: '2.1.0',
    });
    t.equal(login!.tsNs, tsNs(second));

    await r.service.stop(0);
    const disk = await bytesUnder(r.root);
    for (const secret of ['4111 1111 1111 1111', 'hunter2', 's3cret', 'jane.doe@example.com', 'eyJzdWIiOiIxIn0']) {
      t.notOk(disk.includes(secret), `the WAL on disk does not hold ${secret}`);
    }
    t.ok(disk.includes('payment failed for card ****1111'), 'while it holds the masked line');
  });
}

t.test('Basic auth with the token as password, as the Collector sends it with basicauth', async (t) => {
  const r = await run(t);
  const recording = exporter('protobuf', r.url, `Basic ${Buffer.from(`collector:${TOKEN}`).toString('base64')}`);
  const logs = provider(recording, { 'service.name': 'checkout' });
  logs.getLogger('basic').emit({ timestamp: recent(0), body: 'hello' });
  await logs.forceFlush();
  t.equal(recording.results[0]?.code, ExportResultCode.SUCCESS);
  await r.loki.waitFor(1);
  t.same(r.loki.received(TENANT).map((e) => [e.labels, e.line]), [[{ service_name: 'checkout' }, 'hello']]);
});

t.test('a partial success: the SDK is told, the good records reach Loki, the stale one does not', async (t) => {
  const r = await run(t);
  // The three records in one export, as a batch processor sends them: kept by a first provider,
  // then exported by the real exporter.
  const records: ReadableLogRecord[] = [];
  const capture: LogRecordExporter = {
    export: (batch, done) => {
      records.push(...batch);
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  const collecting = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'checkout' }), processors: [new SimpleLogRecordProcessor({ exporter: capture })] });
  const sender = collecting.getLogger('partial');
  sender.emit({ timestamp: recent(0), body: 'kept 1' });
  sender.emit({ timestamp: [Math.floor(Date.now() / 1000) - 8 * 24 * 3600, 0], body: 'eight days old' });
  sender.emit({ timestamp: recent(2), body: 'kept 2' });
  await collecting.forceFlush();

  const json = new JsonExporter({ url: `${r.url}/v1/logs`, headers: { authorization: `Bearer ${TOKEN}` } });
  const result = await new Promise<ExportResult>((resolve) => json.export(records, resolve));
  t.equal(result.code, ExportResultCode.SUCCESS, 'a partial success is a success to the exporter: it does not retry');
  await r.loki.waitFor(2);
  t.same(r.loki.received(TENANT).map((e) => e.line).sort(), ['kept 1', 'kept 2']);
  const metrics = await (await fetch(`${r.url}/metrics`)).text();
  t.match(metrics, /^logs_rejected_total\{token="checkout",reason="validation_failed"\} 1$/m);
  t.match(metrics, /^logs_ingested_total\{token="checkout"\} 2$/m);
  await json.shutdown();
});

t.test("a 429 is retried by the SDK's exporter after Retry-After, and nothing is lost or doubled", async (t) => {
  // One request per 4 s: the second export comes well within that, however slow the machine.
  const r = await run(t, { key: { rate_limit_rps: 0.25, rate_limit_burst: 1 } });
  const recording = exporter('protobuf', r.url, `Bearer ${TOKEN}`);
  const logs = provider(recording, { 'service.name': 'checkout' });
  const logger = logs.getLogger('retry');
  logger.emit({ timestamp: recent(0), body: 'first' });
  await logs.forceFlush();
  logger.emit({ timestamp: recent(1), body: 'second, refused once' });
  await logs.forceFlush();
  t.same(
    recording.results.map((result) => result.code),
    [ExportResultCode.SUCCESS, ExportResultCode.SUCCESS],
    'both exports succeed in the end',
  );
  const metrics = await (await fetch(`${r.url}/metrics`)).text();
  t.match(metrics, /^logs_rejected_total\{token="checkout",reason="rate_limit_exceeded"\} [1-9]/m, 'the second was refused with 429 first');
  await r.loki.waitFor(2);
  t.same(r.loki.received(TENANT).map((e) => e.line).sort(), ['first', 'second, refused once']);
  t.equal(r.loki.duplicatesReceived, 0);
});
