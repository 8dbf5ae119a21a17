import { Value } from '@sinclair/typebox/value';
import t from 'tap';
import type { Test } from 'tap';
import { ConfigSchema } from '../../src/config/schema.js';
import { createLokiClient } from '../../src/forwarder/loki-client.js';
import type { LokiConfig } from '../../src/forwarder/loki-client.js';
import { createLokiHealth } from '../../src/forwarder/loki-health.js';
import type { LokiHealth } from '../../src/forwarder/loki-health.js';
import { createLokiStandIn } from '../support/loki-stand-in.js';
import type { LokiStandIn } from '../support/loki-stand-in.js';

const INTERVAL_MS = 10_000;
/**
 * The probe's bound (ms): an answer of the stand-in takes milliseconds, and more than 300 ms on
 * a busy machine, which made a ready Loki look unreachable. Only the hung Loki's case waits it out.
 */
const PROBE_TIMEOUT_MS = 10_000;
const HUNG_PROBE_TIMEOUT_MS = 300;

async function setup(
  t: Test,
  { baseUrl, probeTimeoutMs = PROBE_TIMEOUT_MS }: { baseUrl?: (lokiUrl: string) => string; probeTimeoutMs?: number } = {},
): Promise<{ loki: LokiStandIn; health: LokiHealth; clock: { now: number } }> {
  const loki = createLokiStandIn();
  await loki.start();
  const config = Value.Default(ConfigSchema.properties.loki, { base_url: baseUrl ? baseUrl(loki.url) : loki.url }) as LokiConfig;
  const client = createLokiClient(config, { version: 'test' });
  t.teardown(async () => {
    await client.close();
    await loki.close();
  });
  const clock = { now: 1_000_000 };
  const health = createLokiHealth(client, { intervalMs: INTERVAL_MS, probeTimeoutMs, now: () => clock.now });
  return { loki, health, clock };
}

t.test('a ready Loki is ok', async (t) => {
  const { health } = await setup(t);
  t.equal(health.last, null, 'nothing known before the first check');
  t.same(await health.check(), { ok: true, detail: 'ready', checkedAtMs: 1_000_000 });
  t.same(health.last, { ok: true, detail: 'ready', checkedAtMs: 1_000_000 });
});

t.test("a 503 from /ready is not ok, with Loki's reason", async (t) => {
  const { loki, health } = await setup(t);
  loki.setReady('not-ready');
  t.same(await health.check(), { ok: false, detail: '/ready answered 503: Ingester not ready: waiting for 15s after being ready', checkedAtMs: 1_000_000 });
});

t.test('a gateway without /ready falls back to the base URL', async (t) => {
  const { loki, health } = await setup(t, { baseUrl: (url) => `${url}/loki-tenant-a` });
  loki.setReady('missing');
  t.match(await health.check(), { ok: true, detail: 'reachable (no /ready; / answered 200)' });
});

t.test('the result is reused for the interval, then asked again', async (t) => {
  const { loki, health, clock } = await setup(t);
  await health.check();
  loki.setReady('not-ready');
  clock.now += INTERVAL_MS - 1;
  t.match(await health.check(), { ok: true }, 'still cached');
  t.equal(loki.readyChecks, 1);
  clock.now += 1;
  t.match(await health.check(), { ok: false, checkedAtMs: 1_000_000 + INTERVAL_MS });
  t.equal(loki.readyChecks, 2);
});

t.test('concurrent checks share one probe', async (t) => {
  const { loki, health } = await setup(t);
  const results = await Promise.all([health.check(), health.check(), health.check()]);
  t.equal(loki.readyChecks, 1);
  t.ok(results.every((r) => r.ok));
});

t.test('an unreachable Loki is not ok and says why; check() never rejects', async (t) => {
  const { loki, health } = await setup(t);
  await loki.close();
  t.match(await health.check(), { ok: false, detail: /^unreachable: .*ECONNREFUSED/ });
});

t.test('a hung Loki is not ok once the probe timeout passes', async (t) => {
  const { loki, health } = await setup(t, { probeTimeoutMs: HUNG_PROBE_TIMEOUT_MS });
  loki.setReady('hang');
  t.match(await health.check(), { ok: false, detail: `unreachable: no answer within ${HUNG_PROBE_TIMEOUT_MS} ms` });
});
