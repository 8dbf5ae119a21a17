/**
 * The ingest path before the WAL, on batches of the shared sample `ingest-100.json`: validation
 * alone, then the whole `prepare` (validate, mask, build the Loki entry, encode the payload): its
 * speed (by the clock, and in CPU time, which a busy machine hardly moves), and the heap it
 * allocates per entry (the garbage the service collects under load).
 */
import { readFileSync } from 'node:fs';
import { createIngestPipeline } from '../src/sources/native/ingest-pipeline.js';
import { validateIngestBody } from '../src/sources/native/validate.js';
import { allocatedPerItem, cpuMicrosPerItem, perSecond, testConfigForBench } from './bench-config.js';
import type { Scenario } from './run.js';

const SAMPLE = new URL('../test/fixtures/samples/ingest-100.json', import.meta.url);
/** A little after the sample's last timestamp, so that every entry is inside the window. */
const NOW_MS = Date.parse('2025-09-24T12:05:00Z');

export default {
  name: 'validation',
  async run(): Promise<Record<string, number | string>> {
    const body = JSON.parse(readFileSync(SAMPLE, 'utf8')) as { entries: unknown[] };
    const config = testConfigForBench();
    config.security.api_keys = { bench_token_0123456789: { name: 'bench', active: true } };
    const pipeline = createIngestPipeline(config);
    const size = body.entries.length;
    const validateRate = await perSecond(size, () => validateIngestBody(body, config.limits, NOW_MS));
    const prepareRate = await perSecond(size, () => pipeline.prepare('bench', body, NOW_MS));
    const prepareBytes = await allocatedPerItem(size, () => pipeline.prepare('bench', body, NOW_MS));
    return {
      prepare_cpu_us_per_entry: await cpuMicrosPerItem(size, () => pipeline.prepare('bench', body, NOW_MS)),
      batch_entries: size,
      validate_entries_per_s: validateRate,
      validate_us_per_entry: Number((1e6 / validateRate).toFixed(2)),
      prepare_entries_per_s: prepareRate,
      prepare_us_per_entry: Number((1e6 / prepareRate).toFixed(2)),
      prepare_heap_bytes_allocated_per_entry: prepareBytes,
    };
  },
} satisfies Scenario;
