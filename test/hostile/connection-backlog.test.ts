/**
 * One key keeps a few valid, costly ingest requests in flight: long messages of distinct
 * `name=value` pairs, each name judged in full by the key rules, tens of milliseconds an entry. Preparing
 * them gives the loop back between entries, but node accepts one connection per iteration of
 * the loop: with a turn in every iteration, probes and clients that open a connection per
 * request queued in the backlog, and `/healthz` took seconds while no iteration was long.
 */
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { HOSTILE_TOKEN, probe, startHostileService } from './harness.js';

const ENTRIES = 6;
const MESSAGE_BYTES = 240_000;
const IN_FLIGHT = 4;
const ATTACK_MS = 5000;
/** Other clients' probes (a kubelet's, a load balancer's): each a fresh connection every 100 ms. */
const OTHER_PROBERS = 8;

let serial = 0;
/**
 * `αβ1kγ_key=v αβ1lγ_key=v …`: every name new to the key rules' cache, and ending in a word of
 * theirs (`key`), so that each is judged in full.
 */
function costlyMessage(): string {
  const parts: string[] = [];
  let bytes = 0;
  while (bytes < MESSAGE_BYTES) {
    const pair = `αβ${(serial++).toString(36)}γ_key=v `;
    parts.push(pair);
    bytes += Buffer.byteLength(pair);
  }
  return parts.join('');
}

function costlyBody(): Buffer {
  const timestamp = new Date().toISOString();
  const entries = Array.from({ length: ENTRIES }, () => ({ timestamp, level: 'INFO', message: costlyMessage(), service: 'svc', env: 'test' }));
  return Buffer.from(JSON.stringify({ entries }));
}

/** POST on a fresh connection, as a client without keep-alive sends: the status, 0 on failure. */
function post(url: string, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(
      `${url}/v1/logs:ingest`,
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', () => resolve(0));
      },
    );
    req.once('error', () => resolve(0));
    req.end(body);
  });
}

t.test('/healthz answers within 1 s while one key keeps costly requests in flight and other clients connect', async (t) => {
  const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });
  const bodies = Array.from({ length: IN_FLIGHT }, costlyBody);
  const statuses = new Map<number, number>();
  const run = await service.measure(async () => {
    const until = performance.now() + ATTACK_MS;
    let otherSlowest = 0;
    let otherFailures = 0;
    const sender = async (body: Buffer): Promise<void> => {
      while (performance.now() < until) {
        const status = await post(service.url, body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const prober = async (): Promise<void> => {
      while (performance.now() < until) {
        const startedAt = performance.now();
        if ((await probe(service.url)) !== 200) otherFailures++;
        const ms = performance.now() - startedAt;
        otherSlowest = Math.max(otherSlowest, ms);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - ms)));
      }
    };
    await Promise.all([...bodies.map(sender), ...Array.from({ length: OTHER_PROBERS }, prober)]);
    return { otherSlowest, otherFailures };
  });
  t.ok(run.alive, 'the service is alive');
  t.ok((statuses.get(202) ?? 0) > 0, `the costly requests are stored (answers: ${JSON.stringify(Object.fromEntries(statuses))})`);
  t.same([...statuses.keys()].filter((status) => status !== 202 && status !== 503), [], 'every other answer is 503 server_busy, for the bodies in flight');
  t.equal(run.healthFailures, 0, `every /healthz probe answered within 1 s (${run.healthProbes} probes)`);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (slowest ${run.healthMaxMs.toFixed(0)} ms)`);
  t.equal(run.result.otherFailures, 0, `the other clients' probes answered within 1 s too (slowest ${run.result.otherSlowest.toFixed(0)} ms)`);
});
