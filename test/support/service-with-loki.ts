import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { createLogger } from '../../src/observability/logger.js';
import { LogstackService } from '../../src/service.js';
import { testConfig } from './config.js';
import { createLokiStandIn, type LokiStandIn } from './loki-stand-in.js';

export interface RunningService {
  readonly url: string;
  /** The WAL root, a temp directory removed at teardown. */
  readonly root: string;
  readonly loki: LokiStandIn;
}

/**
 * A LogStack service in this process on a free port, delivering to a Loki stand-in of its own
 * with short batching and backoff, stopped and cleaned up at teardown. `overrides` are config
 * sections (merged one section deep, as testConfig does); `loki` overrides are merged into the
 * stand-in's section.
 */
export async function startServiceWithLoki(t: Test, overrides: Record<string, Record<string, unknown>>): Promise<RunningService> {
  const loki = createLokiStandIn();
  await loki.start();
  const root = await mkdtemp(join(tmpdir(), 'logstack-service-'));
  const config = testConfig({
    ...overrides,
    server: { host: '127.0.0.1', port: 0, shutdown_timeout_seconds: 2, ...overrides.server },
    wal: { wal_root_path: root, ...overrides.wal },
    loki: { base_url: loki.url, batch_max_wait_ms: 10, backoff_initial_ms: 10, backoff_max_ms: 200, ...overrides.loki },
  });
  const service = new LogstackService({ config, logger: createLogger({ level: 'error', destination: { write: () => {} } }), version: 'test' });
  const url = await service.start();
  t.teardown(async () => {
    await service.stop(0);
    await loki.close();
    await rm(root, { recursive: true, force: true });
  });
  return { url, root, loki };
}
