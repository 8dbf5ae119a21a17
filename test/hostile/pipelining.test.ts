/**
 * HTTP/1.1 pipelining without a token: a client that writes request after request on one
 * connection without reading its answers gets one processed at a time, at most
 * `server.max_pipelined_requests` outstanding, and is disconnected past it; the unauthenticated
 * answers that cost the most (`/metrics`, `/openapi.json`) stay cheap under a flood. Run with
 * the heap limit the StatefulSet ships (`--max-old-space-size=160`).
 */
import { connect } from 'node:net';
import t from 'tap';
import { mib, startHostileService, type HostileService } from './harness.js';

const MAX_PIPELINED = 8;
/** What a burst of requests may add to the peak RSS: node parses one read of them ahead. */
const BURST_RSS_BYTES = 32 * 1024 * 1024;

interface Pipelined {
  /** The status of each answer, in order. */
  readonly statuses: number[];
  /** Whether the server closed the connection before the client gave up. */
  readonly closedByServer: boolean;
}

/**
 * Answers read off `text` one after another (status line, headers, Content-Length body); stops
 * at the first one not whole yet.
 */
function parseAnswers(text: Buffer): { statuses: number[]; rest: Buffer } {
  const statuses: number[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const head = text.toString('latin1', at, headEnd);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    if (status === null || length === null) throw new Error(`not an answer with a Content-Length: ${head.slice(0, 200)}`);
    const end = headEnd + 4 + Number(length[1]);
    if (end > text.length) break;
    statuses.push(Number(status[1]));
    at = end;
  }
  return { statuses, rest: text.subarray(at) };
}

/**
 * Writes `count` copies of `GET path` at once on one connection, then reads answers until
 * `count` came, the server closed the connection, or `giveUpMs` passed.
 */
function pipeline(service: HostileService, path: string, count: number, giveUpMs = 20_000): Promise<Pipelined> {
  return new Promise((resolve) => {
    const socket = connect(service.port, '127.0.0.1');
    let pending: Buffer = Buffer.alloc(0);
    const statuses: number[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ statuses, closedByServer });
    };
    const timer = setTimeout(() => finish(false), giveUpMs);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      const parsed = parseAnswers(Buffer.concat([pending, chunk]));
      statuses.push(...parsed.statuses);
      pending = parsed.rest;
      if (statuses.length >= count) finish(false);
    });
    socket.once('close', () => finish(true));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: logstack\r\n\r\n`.repeat(count));
  });
}

async function closedForPipelining(service: HostileService): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  return Number(/^http_connections_closed_total\{reason="pipelining"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

const service = await startHostileService(t, {
  config: { server: { max_pipelined_requests: MAX_PIPELINED } },
  nodeArgs: ['--max-old-space-size=160'],
});

t.test('at the bound every pipelined request is answered, in order; one over and the connection is closed', async (t) => {
  for (const path of ['/healthz', '/metrics', '/openapi.json']) {
    const atBound = await pipeline(service, path, MAX_PIPELINED);
    t.same(atBound.statuses, new Array(MAX_PIPELINED).fill(200), `${MAX_PIPELINED} × ${path}: all answered`);
  }
  const before = await closedForPipelining(service);
  const over = await pipeline(service, '/healthz', MAX_PIPELINED + 1);
  t.ok(over.closedByServer, `${MAX_PIPELINED + 1} pipelined: the connection is closed`);
  t.ok(over.statuses.length < MAX_PIPELINED + 1, `not every request answered (${over.statuses.length})`);
  t.equal(await closedForPipelining(service), before + 1, 'counted in http_connections_closed_total{reason="pipelining"}');
});

t.test('1,500 pipelined GET /metrics (52 kB, no token): closed at once, /healthz within 1 s', async (t) => {
  const run = await service.measure(() => pipeline(service, '/metrics', 1500));
  t.ok(run.result.closedByServer, `closed after ${run.result.statuses.length} answers`);
  t.ok(run.alive, 'the service is alive');
  t.equal(run.healthFailures, 0, `/healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  t.ok(run.peakRssGrowthBytes < BURST_RSS_BYTES, `peak RSS grew ${mib(run.peakRssGrowthBytes)}`);
});

t.test('3,000 pipelined GET /openapi.json: closed at once, /healthz within 1 s', async (t) => {
  const run = await service.measure(() => pipeline(service, '/openapi.json', 3000));
  t.ok(run.result.closedByServer, `closed after ${run.result.statuses.length} answers`);
  t.ok(run.alive);
  t.equal(run.healthFailures, 0, `/healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  t.ok(run.peakRssGrowthBytes < BURST_RSS_BYTES, `peak RSS grew ${mib(run.peakRssGrowthBytes)}`);
});

t.test('two clients that keep pipelining at the bound and 8 that keep scraping /metrics, for 3 s: /healthz within 1 s', async (t) => {
  const run = await service.measure(async () => {
    const until = performance.now() + 3000;
    let answered = 0;
    const pipeliner = async () => {
      while (performance.now() < until) {
        const { statuses } = await pipeline(service, '/metrics', MAX_PIPELINED);
        answered += statuses.length;
      }
    };
    const scraper = async () => {
      while (performance.now() < until) {
        const response = await fetch(`${service.url}/metrics`);
        await response.text();
        answered++;
      }
    };
    await Promise.all([pipeliner(), pipeliner(), ...Array.from({ length: 8 }, scraper)]);
    return answered;
  });
  t.ok(run.result > 0, `${run.result} answers`);
  t.ok(run.alive);
  t.equal(run.healthFailures, 0, `/healthz answered every probe (${run.healthProbes})`);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  t.ok(run.peakRssGrowthBytes < 64 * 1024 * 1024, `peak RSS grew ${mib(run.peakRssGrowthBytes)}`);
});
