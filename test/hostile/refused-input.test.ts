/**
 * Refused requests cost nothing once answered: a cache fed by client input (metadata key names,
 * label sets) is bounded in bytes and never keeps what a refused batch taught it. Run with the
 * heap limit the StatefulSet ships (`--max-old-space-size=160`).
 */
import t from 'tap';
import { HOSTILE_TOKEN, mib, startHostileService } from './harness.js';

const KEY_CHARS = 1000;
const ITEMS = 70;
const ENTRIES = 60;

function key(request: number, entry: number, chars: number): string {
  return `${String(request).padStart(6, '0')}-${String(entry).padStart(3, '0')}-`.padEnd(chars, 'k');
}

function batch(request: number, accepted: boolean): string {
  const entries = Array.from({ length: ENTRIES }, (_, i) => ({
    timestamp: new Date().toISOString(),
    level: 'INFO',
    message: 'm',
    service: 'svc',
    env: 'test',
    // A new key name every entry of every request. Refused: a key of 1,000 characters (within
    // limits.max_metadata_key_bytes) over 70 items is 70 names of 1,000 bytes, over Loki's 64 KB
    // of structured metadata, so the batch is refused after its names were made.
    metadata: accepted ? { [key(request, i, 100)]: 'v' } : { [key(request, i, KEY_CHARS)]: new Array(ITEMS).fill('v') },
  }));
  return JSON.stringify({ entries });
}

t.test('refused batches of 70 names of 1,000 characters per entry do not fill the heap', async (t) => {
  const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });
  // 40 requests: names kept from each would be 168 MB, past the heap limit, so a cache fed by
  // refused input kills the process; the peak RSS bound is a second witness, with room for a
  // collector that runs late on a busy machine (111 MiB seen once under a full suite, 34 MiB idle).
  const REQUESTS = 40;
  const run = await service.measure(async () => {
    const statuses: number[] = [];
    for (let r = 0; r < REQUESTS; r++) {
      const response = await fetch(`${service.url}/v1/logs:ingest`, {
        method: 'POST',
        body: batch(r, false),
        headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json' },
      }).catch(() => null);
      statuses.push(response?.status ?? 0);
      await response?.text();
    }
    return statuses;
  });
  t.same(new Set(run.result), new Set([400]), `every request answered 400 (${run.result.join(' ')})`);
  t.ok(run.alive, `the service is alive after ${REQUESTS} × ${ENTRIES} × ${ITEMS} refused names of ${KEY_CHARS} characters`);
  // One request's names (4.2 MB, from a 70 kB body) are live while it is refused; nothing after.
  t.ok(run.peakRssGrowthBytes < 128 * 1024 * 1024, `peak RSS grew ${mib(run.peakRssGrowthBytes)}`);
  t.equal(run.walGrowthBytes, 0);
  t.equal(run.healthFailures, 0);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);

  // Accepted batches of new names, 100 characters each: the cache is bounded in bytes.
  const accepted = await service.measure(async () => {
    for (let r = 0; r < 30; r++) {
      const response = await fetch(`${service.url}/v1/logs:ingest`, {
        method: 'POST',
        body: batch(1000 + r, true),
        headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json' },
      });
      if (response.status !== 202) return response.status;
      await response.text();
    }
    return 202;
  });
  t.equal(accepted.result, 202);
  t.ok(accepted.alive);
});
