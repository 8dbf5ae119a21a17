/**
 * One API key's uploads, stalled one byte short of their declared length, cannot hold the whole
 * body budget: they hold at most the key's share (`limits.max_body_bytes_in_flight_per_key`),
 * its further bodies are answered 503 with Retry-After, and another key's requests still fit in
 * the rest. The attack at full scale: 16 connections × 4,194,300 bytes against 64 MiB, and every
 * other key's ingest and push answered 503 for as long as the uploads were held.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { HOSTILE_KEY, HOSTILE_TOKEN, MIB, startHostileService, type HostileService } from './harness.js';

const VICTIM_TOKEN = 'tok_victim_0123456789abcdef';
const BODY_BYTES = MIB;
const BUDGET = 8 * MIB;
const SHARE = 6 * MIB;
const UPLOADS = 10;

function ingestBody(message: string): string {
  return JSON.stringify({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', message, service: 'shop', env: 'prod' }] });
}

/** An upload that declares `BODY_BYTES` and sends all but the last byte; its answer, if any, is kept. */
async function stalledUpload(service: HostileService): Promise<{ socket: Socket; status: () => number | null }> {
  const socket = connect(service.port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.write(`POST /v1/logs:ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${HOSTILE_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
  socket.write(Buffer.alloc(BODY_BYTES - 1, 'a'));
  return { socket, status: () => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0) || null };
}

async function ingest(service: HostileService, token: string): Promise<Response> {
  return fetch(`${service.url}/v1/logs:ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: ingestBody('hello') });
}

async function heldBy(service: HostileService, key: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  return Number(new RegExp(`^http_body_bytes_in_flight_by_token\\{token="${key}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

t.test("one key's stalled uploads hold its share of the body budget, not all of it: another key's ingest is still 202", async (t) => {
  const service = await startHostileService(t, {
    config: {
      security: { api_keys: { [HOSTILE_TOKEN]: { name: HOSTILE_KEY }, [VICTIM_TOKEN]: { name: 'victim' } } },
      limits: { max_body_bytes: BODY_BYTES, max_body_bytes_in_flight: BUDGET, max_body_bytes_in_flight_per_key: SHARE },
      // The uploads stay open for the whole test, as they did for 30 s in the attack.
      server: { request_timeout_seconds: 60 },
    },
  });
  const uploads: Array<Awaited<ReturnType<typeof stalledUpload>>> = [];
  t.teardown(() => uploads.forEach((u) => u.socket.destroy()));

  const measured = await service.measure(async () => {
    for (let i = 0; i < UPLOADS; i++) uploads.push(await stalledUpload(service));
    // Until the bodies have arrived: what a full share holds, one byte short of each body.
    const full = (SHARE / BODY_BYTES) * (BODY_BYTES - 1);
    for (let waited = 0; (await heldBy(service, HOSTILE_KEY)) < full && waited < 100; waited++) await sleep(100);
    const hogHeld = await heldBy(service, HOSTILE_KEY);
    const hogAgain = await ingest(service, HOSTILE_TOKEN);
    const victim: number[] = [];
    for (let i = 0; i < 5; i++) victim.push((await ingest(service, VICTIM_TOKEN)).status);
    return { hogHeld, hogAgain: { status: hogAgain.status, retryAfter: hogAgain.headers.get('retry-after'), body: await hogAgain.json() }, victim };
  });

  const { hogHeld, hogAgain, victim } = measured.result;
  t.equal(hogHeld, (SHARE / BODY_BYTES) * (BODY_BYTES - 1), "the stalled uploads hold the key's share, one byte short of each body");
  t.same(victim, [202, 202, 202, 202, 202], "another key's ingest is taken while they are held");
  t.equal(hogAgain.status, 503, "the key's next body is refused for now");
  t.ok(Number(hogAgain.retryAfter) >= 1, 'with Retry-After');
  t.match(hogAgain.body, { error: 'server_busy' });
  t.same(
    uploads.map((u) => u.status()),
    [...Array(SHARE / BODY_BYTES).fill(null), ...Array(UPLOADS - SHARE / BODY_BYTES).fill(503)],
    'the uploads past the share are answered 503 before their bodies are read; the others wait for their last byte',
  );
  t.ok(measured.alive, 'alive');
  t.equal(measured.healthFailures, 0, '/healthz answered within 1 s throughout');
});
