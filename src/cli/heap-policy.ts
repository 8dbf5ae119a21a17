/**
 * How far the service's V8 heaps may grow past their live data before a full collection.
 *
 * V8 picks that factor between 1.1 and a maximum it scales from the heap limit, and the limit
 * from the machine's memory: on a host with gigabytes free the maximum is 4, on one whose limit
 * is small (a container with `--max-old-space-size`) it is close to 1.3. The ingest path makes
 * short-lived garbage at a high rate, and what a request keeps alive while its fsync is pending
 * survives to the old generation; with a factor of 4 that garbage piled up to 275–305 MB of
 * RSS at 50,000 entries/s over a live heap of ~30 MB (docs/benchmarks.md). The service asks
 * for 1.3 wherever it runs, the factor of V8's own memory-saving mode. The flag is process-wide,
 * so the delivery thread's heap follows it too; V8 still grows a heap by at least a few MB, so
 * a small live heap is not collected on every promotion. See docs/adr/ADR-004-heap-settings.md.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 30;

const FLAG = '--heap-growing-percent';

/**
 * The V8 flag the service sets, or null when node was started with its own: an operator who
 * trades memory for fewer collections (or the reverse) on the command line keeps that choice.
 */
export function heapGrowingFlag(execArgv: readonly string[]): string | null {
  // V8 takes its flags with `_` or `-` between words.
  const own = execArgv.some((arg) => arg.split('=')[0]!.replaceAll('_', '-') === FLAG);
  return own ? null : `${FLAG}=${HEAP_GROWING_PERCENT}`;
}

/**
 * Applies the policy to this process. Called before the service allocates anything of note:
 * V8 reads the flag each time it sets a heap's next limit, so every limit after this call
 * follows it.
 */
export function applyHeapPolicy(): void {
  const flag = heapGrowingFlag(process.execArgv);
  if (flag !== null) setFlagsFromString(flag);
}
