/**
 * A client cannot make new metric series: any of node's methods on any path, with a token or
 * without, leaves `http_requests_total` within the routes LogStack serves. And every method a
 * route does not serve is answered 405 with `Allow`, before any body is read.
 */
import { METHODS } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { fuzzSettings } from '../support/fuzz-settings.js';
import { HOSTILE_TOKEN, startHostileService, type HostileService } from './harness.js';

const fuzz = fuzzSettings({ seed: 1313, runs: 1000 });
const ROUTES = ['/', '/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/logs:ingest', '/loki/api/v1/push', '/api/prom/push', '/v1/admin/status', '/v1/admin/flush'];
/** CONNECT takes an authority, not a path: node answers it (or not) before any route. */
const METHODS_WITH_PATHS = METHODS.filter((m) => m !== 'CONNECT');

/** One raw HTTP/1.1 request; the status line's code (0 when the connection closed without one). */
function rawStatus(service: HostileService, method: string, path: string, headers: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(service.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.once('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: logstack\r\nConnection: close\r\n${headers}\r\n`);
  });
}

function series(exposition: string, name: string): string[] {
  return exposition.split('\n').filter((line) => line.startsWith(`${name}{`));
}

const service = await startHostileService(t);

t.test('OPTIONS, PUT, DELETE and the rest on a route: 405 with Allow, never a body error', async (t) => {
  const body = 'Content-Type: application/json\r\nContent-Length: 0\r\n';
  for (const method of ['OPTIONS', 'PUT', 'DELETE', 'PATCH', 'PROPFIND']) {
    const answer = await rawStatus(service, method, '/v1/logs:ingest', `${body}Authorization: Bearer ${HOSTILE_TOKEN}\r\n`);
    t.equal(answer.status, 405, `${method} /v1/logs:ingest`);
    t.match(answer.text, /\r\nallow: POST\r\n/i);
    t.match(answer.text, /"error":"method_not_allowed"/);
  }
  t.match(await rawStatus(service, 'DELETE', '/nowhere', body), { status: 404, text: /"error":"not_found"/ });
});

t.test(`${fuzz.runs} requests of random methods and paths add no series beyond the routes served`, async (t) => {
  const request = fc.record({
    method: fc.constantFrom(...METHODS_WITH_PATHS),
    path: fc.oneof(fc.constantFrom(...ROUTES), fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`))),
    token: fc.boolean(),
  });
  const requests = fc.sample(request, { seed: fuzz.seed, numRuns: fuzz.runs });
  const run = await service.measure(async () => {
    for (let i = 0; i < requests.length; i += 25) {
      await Promise.all(
        requests.slice(i, i + 25).map((r) => rawStatus(service, r.method, encodeURI(r.path).replace(/%25/g, '%'), r.token ? `Authorization: Bearer ${HOSTILE_TOKEN}\r\n` : '')),
      );
    }
  });
  const exposition = await (await fetch(`${service.url}/metrics`)).text();
  const requestSeries = series(exposition, 'http_requests_total');
  const methods = new Set(requestSeries.map((line) => /method="([^"]*)"/.exec(line)![1]));
  const routes = new Set(requestSeries.map((line) => /route="([^"]*)"/.exec(line)![1]));
  t.ok([...methods].every((m) => ['GET', 'HEAD', 'POST', 'other'].includes(m!)), `method labels: ${[...methods].join(', ')} (${fuzz.replay})`);
  t.ok([...routes].every((r) => ROUTES.includes(r!) || r === 'unmatched' || r === '/v1/admin/dead-letters' || r === '/v1/admin/dead-letters:replay'), `route labels: ${[...routes].join(', ')}`);
  // 4 methods × 13 routes × a handful of statuses at the very most; 34 methods would make hundreds.
  t.ok(requestSeries.length <= 120, `${requestSeries.length} http_requests_total series`);
  t.ok(run.alive);
  t.equal(run.healthFailures, 0);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
});
