/**
 * A long metadata key over many leaves: flattening joins the key into the name of every leaf
 * below it, so a 2 MB key over 128 array items made 128 names of 2 MB each (256 MB from a 2 MB
 * body). The key's length is refused in validation, before any name is built. Run with the heap
 * limit the StatefulSet ships (`--max-old-space-size=160`).
 */
import t from 'tap';
import { HOSTILE_TOKEN, mib, startHostileService } from './harness.js';

function body(key: string, leaves: number): string {
  const entry = { timestamp: new Date().toISOString(), level: 'INFO', message: 'm', service: 'svc', env: 'test', metadata: { [key]: new Array(leaves).fill(0) } };
  return JSON.stringify({ entries: [entry] });
}

async function ingest(url: string, text: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url}/v1/logs:ingest`, {
    method: 'POST',
    body: text,
    headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json' },
  }).catch(() => null);
  return { status: response?.status ?? 0, text: (await response?.text()) ?? '' };
}

t.test('a metadata key is refused past limits.max_metadata_key_bytes, before it is joined into 128 names', async (t) => {
  const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });

  // 50 names of 1,026 bytes stay under the 64,000 bytes of structured metadata.
  const atBound = await ingest(service.url, body('k'.repeat(1024), 50));
  t.equal(atBound.status, 202, 'a key of 1,024 bytes over 50 leaves is accepted');
  const over = await ingest(service.url, body('k'.repeat(1025), 50));
  t.equal(over.status, 400, 'a key of 1,025 bytes is refused');
  t.match(over.text, /limits\.max_metadata_key_bytes/);
  t.ok(over.text.length < 1024, `the answer does not repeat the key (${over.text.length} bytes)`);

  const KEY_BYTES = 2_000_000;
  const text = body('K'.repeat(KEY_BYTES), 128);
  const run = await service.measure(async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await ingest(service.url, text));
    return answers;
  });
  t.same(
    run.result.map((a) => a.status),
    [400, 400, 400],
    'each 2 MB key answered 400',
  );
  t.ok(run.alive, 'the service is alive');
  // The body, its parsed copy and the key's one string: a few times the 2 MB, never 128 copies.
  t.ok(run.peakRssGrowthBytes < 16 * KEY_BYTES, `peak RSS grew ${mib(run.peakRssGrowthBytes)}, under 16 × the key`);
  t.equal(run.walGrowthBytes, 0);
  t.equal(run.healthFailures, 0);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
});
