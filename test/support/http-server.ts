/**
 * A LogStack HTTP edge on 127.0.0.1 port 0 with real parts: the disk WAL in a temp dir, the real
 * ingest pipeline, its own metrics registry, and a logger whose lines are kept for assertions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { request } from 'undici';
import type { Config } from '../../src/config/schema.js';
import { buildApp, type AppDeps } from '../../src/http/app.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, walObserver, type Metrics } from '../../src/observability/metrics.js';
import { createIngestPipeline } from '../../src/sources/native/ingest-pipeline.js';
import type { WalStore } from '../../src/wal/types.js';
import { testConfig } from './config.js';
import { openWal } from './wal.js';

export { APP_TOKEN } from './config.js';
export const ADMIN_TOKEN = 'adm_0123456789abcdef0123';

export interface TestServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly wal: WalStore;
  readonly metrics: Metrics;
  readonly config: Config;
  /** Every log line written so far, raw. */
  logText(): string;
  /** Every log line written so far, parsed. */
  logLines(): Array<Record<string, unknown>>;
}

export interface ServerOptions {
  /** Config sections merged over `testConfig()`'s. */
  config?: Record<string, Record<string, unknown>>;
  /** WAL quota of every token, in bytes. */
  quotaBytes?: number;
  diskReservePercent?: number;
  /** Replaces buildApp's dependencies; a `clock` given here is the WAL's clock too. */
  deps?: Partial<AppDeps>;
}

export async function startServer(t: Test, options: ServerOptions = {}): Promise<TestServer> {
  const config = testConfig(options.config);
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  const metrics = createMetrics();
  // Not t.testdir(): that is removed before teardowns run, under the WAL's lock refresh.
  const root = await mkdtemp(join(tmpdir(), 'logstack-http-'));
  const wal = await openWal(root, {
    tokens: [...new Set(Object.values(config.security.api_keys).map((key) => key.name))],
    quotaBytes: () => options.quotaBytes ?? 64 * 1024 * 1024,
    diskReservePercent: options.diskReservePercent ?? 0,
    observer: walObserver(metrics),
    ...(options.deps?.clock === undefined ? {} : { clock: options.deps.clock }),
  });
  const app = buildApp({ config, pipeline: createIngestPipeline(config), wal, metrics, logger, version: '1.2.3-test', ...options.deps });
  t.teardown(async () => {
    await app.close();
    if (wal.state === 'open') await wal.close();
    await rm(root, { recursive: true, force: true });
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    app,
    wal,
    metrics,
    config,
    logText: () => lines.join(''),
    logLines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  readonly json: any;
}

export interface SendOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  token?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One request with undici; JSON content type by default when there is a body. */
export async function send(server: TestServer, path: string, options: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  Object.assign(headers, options.headers);
  const response = await request(server.url + path, { method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), headers, body: options.body });
  const text = await response.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, json };
}

/** A valid entry, stamped now. */
export function entry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { timestamp: new Date().toISOString(), level: 'INFO', message: 'order created', service: 'shop', env: 'test', ...overrides };
}

export function batch(count: number, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({ entries: Array.from({ length: count }, (_, i) => entry({ message: `entry ${i}`, ...overrides })) });
}

/** The samples shared with the original service; tests skip when they are absent. */
export const SAMPLES = new URL('../fixtures/samples/', import.meta.url);
