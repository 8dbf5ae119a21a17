/**
 * The Loki client's handling of every answer Loki (or a gateway in front of it) can give, each
 * exchange scripted with msw at the socket: the client's undici Pool writes a real request to
 * what it takes for a socket and parses a real HTTP answer. The forwarder acts on the outcome,
 * so an answer put in the wrong class is an entry lost, dead-lettered for nothing, or retried
 * forever. What Loki itself does with a push is the Loki stand-in's to show
 * (test/forwarder/loki-client.test.ts and the reliability tests).
 */
import { Value } from '@sinclair/typebox/value';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import t from 'tap';
import type { Test } from 'tap';
import { ConfigSchema } from '../../src/config/schema.js';
import { MAX_ANSWER_BYTES, createLokiClient } from '../../src/forwarder/loki-client.js';
import type { LokiClient, LokiConfig } from '../../src/forwarder/loki-client.js';
import { MAX_RETRY_AFTER_MS } from '../../src/forwarder/retry-policy.js';
import { encodeEntryPayload } from '../../src/loki/entry-codec.js';
import { formatLabels } from '../../src/loki/entry.js';
import { encodePush } from '../../src/loki/push-request.js';
import { mockNetwork, type MockNetwork } from '../support/mock-network.js';
import { freePort } from '../support/ports.js';

const LOKI = 'http://loki.example:3100';
const PUSH = `${LOKI}/loki/api/v1/push`;
const STREAM = formatLabels({ service: 'api', env: 'prod', level: 'INFO' });
/** The wall clock the client reads `Retry-After` dates against. */
const NOW_MS = Date.parse('2026-11-23T10:00:00Z');

function lokiConfig(overrides: Partial<LokiConfig> = {}): LokiConfig {
  return Value.Default(ConfigSchema.properties.loki, structuredClone({ base_url: LOKI, ...overrides })) as LokiConfig;
}

function client(t: Test, overrides: Partial<LokiConfig> = {}): LokiClient {
  const c = createLokiClient(lokiConfig(overrides), { version: '1.2.3', now: () => NOW_MS });
  t.teardown(() => c.close());
  return c;
}

async function push(c: LokiClient, tenant?: string) {
  const encoded = await encodePush(
    ['one', 'two'].map((line, i) => encodeEntryPayload({ labels: STREAM, seconds: 1763892000, nanos: i, line, structuredMetadata: [] })),
    'protobuf',
  );
  return { sent: encoded.body, attempt: await c.push(encoded.body, encoded.headers, tenant) };
}

/** Loki answers the next push with `answer`; later pushes get 204. */
function answerOnce(network: MockNetwork, answer: () => Response | Promise<Response>): void {
  network.use(http.post(PUSH, answer, { once: true }));
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new HttpResponse(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
}

/**
 * Resolves when the test ends. Its timer is what keeps the process alive meanwhile: a socket msw
 * mocks holds no handle of the event loop, and the client's timeout timers are unref'd.
 */
function stalled(t: Test): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 60_000);
    t.teardown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

t.test("msw's interception sees the Loki client's undici Pool only below setupServer()", async (t) => {
  // Nothing listens on the port: a request that msw does not take reaches the network and is refused.
  const base = `http://127.0.0.1:${await freePort()}`;
  let seen = 0;
  const handler = http.post(`${base}/loki/api/v1/push`, () => {
    seen++;
    return new HttpResponse(null, { status: 204 });
  });

  const server = setupServer(handler);
  server.listen({ onUnhandledFrame: 'bypass' });
  try {
    const { attempt } = await push(client(t, { base_url: base }));
    t.match(attempt.outcome, { kind: 'retryable', reason: 'network', message: /ECONNREFUSED/ }, 'setupServer() let the push through to the network');
    t.equal(seen, 0, "setupServer()'s handler never saw it");
    const viaFetch = await fetch(`${base}/loki/api/v1/push`, { method: 'POST', body: 'x' });
    t.equal(viaFetch.status, 204, 'while the global fetch is intercepted');
    t.equal(seen, 1);
  } finally {
    server.close();
  }

  await mockNetwork(t, handler);
  const { attempt } = await push(client(t, { base_url: base }));
  t.same(attempt.outcome, { kind: 'success', status: 204 }, 'the socket-level network answered the Pool');
  t.equal(seen, 2);
});

t.test('a push reaches msw as the client wrote it: path, headers, tenant and the exact body', async (t) => {
  const requests: Array<{ url: string; headers: Record<string, string>; body: Buffer }> = [];
  await mockNetwork(
    t,
    http.post(PUSH, async ({ request }) => {
      requests.push({ url: request.url, headers: Object.fromEntries(request.headers), body: Buffer.from(await request.arrayBuffer()) });
      return new HttpResponse(null, { status: 204 });
    }),
  );
  const c = client(t, { bearer_token: 'loki-s3cret' });
  const { sent, attempt } = await push(c, 'team-a');
  t.same(attempt.outcome, { kind: 'success', status: 204 });
  t.equal(requests.length, 1);
  t.equal(requests[0]!.url, PUSH);
  t.match(requests[0]!.headers, {
    'content-type': 'application/x-protobuf',
    'user-agent': 'logstack/1.2.3',
    'x-scope-orgid': 'team-a',
    authorization: 'Bearer loki-s3cret',
  });
  t.ok(requests[0]!.body.equals(sent), `the ${sent.length} bytes pushed arrive unchanged`);
});

t.test('each answer becomes the outcome the forwarder acts on', async (t) => {
  const network = await mockNetwork(t, http.post(PUSH, () => new HttpResponse(null, { status: 204 })));
  const c = client(t);
  const tooOld = `entry for stream '${STREAM}' has timestamp too old: 2026-11-01T10:00:00Z, oldest acceptable timestamp is: 2026-11-16T10:00:00Z`;
  const cases: Array<{ name: string; answer: () => Response; outcome: Record<string, unknown>; absent?: string }> = [
    { name: '200', answer: () => text(200, ''), outcome: { kind: 'success', status: 200 } },
    { name: '204', answer: () => new HttpResponse(null, { status: 204 }), outcome: { kind: 'success', status: 204 } },
    {
      name: '429 with Retry-After in seconds',
      answer: () =>
        text(
          429,
          "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while attempting to ingest '2' lines totaling '6' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
          { 'retry-after': '7' },
        ),
      outcome: { kind: 'retryable', reason: 'rate_limited', status: 429, retryAfterMs: 7000, message: /^Ingestion rate limit exceeded for user fake/ },
    },
    {
      name: '429 with Retry-After as an HTTP date',
      answer: () => text(429, 'Too Many Requests', { 'retry-after': new Date(NOW_MS + 42_000).toUTCString() }),
      outcome: { kind: 'retryable', reason: 'rate_limited', status: 429, retryAfterMs: 42_000 },
    },
    {
      name: '429 with a Retry-After date already past',
      answer: () => text(429, 'Too Many Requests', { 'retry-after': new Date(NOW_MS - 5_000).toUTCString() }),
      outcome: { kind: 'retryable', reason: 'rate_limited', retryAfterMs: 0 },
    },
    {
      name: "429 with a gateway's hour-long Retry-After, capped",
      answer: () => text(429, 'slow down', { 'retry-after': '3600' }),
      outcome: { kind: 'retryable', reason: 'rate_limited', retryAfterMs: MAX_RETRY_AFTER_MS },
    },
    {
      name: '429 without Retry-After: the backoff decides',
      answer: () =>
        text(
          429,
          "Maximum active stream limit exceeded when trying to create stream {env=\"prod\", level=\"INFO\", service=\"api\"}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: 'fake'",
        ),
      outcome: { kind: 'retryable', reason: 'rate_limited', status: 429, message: /^Maximum active stream limit exceeded/ },
      absent: 'retryAfterMs',
    },
    {
      name: '429 with an unreadable Retry-After',
      answer: () => text(429, 'slow down', { 'retry-after': 'soon' }),
      outcome: { kind: 'retryable', reason: 'rate_limited', status: 429 },
      absent: 'retryAfterMs',
    },
    {
      name: '500',
      answer: () => text(500, 'rpc error: code = Unavailable desc = at least 1 live replicas required, could only find 0'),
      outcome: { kind: 'retryable', reason: 'server_error', status: 500, message: /at least 1 live replicas required/ },
      absent: 'retryAfterMs',
    },
    {
      name: "502 from a gateway, with an HTML page",
      answer: () => new HttpResponse('<html><body><h1>502 Bad Gateway</h1></body></html>', { status: 502, headers: { 'content-type': 'text/html' } }),
      outcome: { kind: 'retryable', reason: 'server_error', status: 502, message: /502 Bad Gateway/ },
    },
    {
      name: '503 with Retry-After',
      answer: () => text(503, 'Ingester not ready: waiting for 15s after being ready', { 'retry-after': '15' }),
      outcome: { kind: 'retryable', reason: 'server_error', status: 503, retryAfterMs: 15_000 },
    },
    { name: '504', answer: () => text(504, 'upstream request timeout'), outcome: { kind: 'retryable', reason: 'server_error', status: 504 } },
    { name: '408', answer: () => text(408, 'request timeout'), outcome: { kind: 'retryable', reason: 'server_error', status: 408 } },
    { name: '260, a 2xx that is no acknowledgement', answer: () => text(260, ''), outcome: { kind: 'retryable', reason: 'unexpected_status', status: 260 } },
    { name: '202, accepted but not stored', answer: () => text(202, ''), outcome: { kind: 'retryable', reason: 'unexpected_status', status: 202 } },
    { name: '400: timestamp too old', answer: () => text(400, tooOld), outcome: { kind: 'rejected', status: 400, message: tooOld } },
    {
      name: "400: entry too far behind, Loki's per-entry report",
      answer: () =>
        text(
          400,
          "entry with timestamp 2026-11-23 09:00:00 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2026-11-23T09:00:00Z, oldest acceptable timestamp is: 2026-11-23T09:30:00Z',\n" +
            `user 'fake', total ignored: 1 out of 2 for stream: ${STREAM}`,
        ),
      outcome: { kind: 'rejected', status: 400, message: /^entry with timestamp .* ignored, reason: 'entry too far behind, .*\nuser 'fake', total ignored: 1 out of 2 for stream: / },
    },
    {
      name: '400: too many label names',
      answer: () => text(400, `entry for stream '${STREAM}' has 16 label names; limit 15`),
      outcome: { kind: 'rejected', status: 400, message: `entry for stream '${STREAM}' has 16 label names; limit 15` },
    },
    {
      name: '400: line too long',
      answer: () => text(400, `Max entry size '262144' bytes exceeded for stream '${STREAM}' while adding an entry with length '300000' bytes`),
      outcome: { kind: 'rejected', status: 400, message: /^Max entry size '262144' bytes exceeded/ },
    },
    {
      name: '400: structured metadata too large',
      answer: () =>
        text(
          400,
          `stream '${STREAM}' has structured metadata too large: '70000' bytes, limit: '65536' bytes. Please see \`limits_config.max_structured_metadata_size\` or contact your Loki administrator to increase it.`,
        ),
      outcome: { kind: 'rejected', status: 400, message: /has structured metadata too large/ },
    },
    {
      name: '400: structured metadata disallowed',
      answer: () =>
        text(
          400,
          `stream '${STREAM}' includes structured metadata, but this feature is disallowed. Please see \`limits_config.allow_structured_metadata\` or contact your Loki administrator to enable it.`,
        ),
      outcome: { kind: 'rejected', status: 400, message: /structured metadata, but this feature is disallowed/ },
    },
    {
      name: '413: body too large, split',
      answer: () => text(413, 'request body too large: 5242880 bytes, limit: 4194304 bytes'),
      outcome: { kind: 'split', status: 413, message: 'request body too large: 5242880 bytes, limit: 4194304 bytes' },
    },
    { name: '401', answer: () => text(401, 'no org id'), outcome: { kind: 'misconfigured', status: 401, message: 'no org id' } },
    { name: '403', answer: () => text(403, 'forbidden'), outcome: { kind: 'misconfigured', status: 403 } },
    { name: '404', answer: () => text(404, '404 page not found'), outcome: { kind: 'misconfigured', status: 404, message: '404 page not found' } },
    { name: '405', answer: () => text(405, 'method not allowed'), outcome: { kind: 'misconfigured', status: 405 } },
    {
      name: '301 to https, not followed',
      answer: () => new HttpResponse(null, { status: 301, headers: { location: 'https://loki.example/loki/api/v1/push' } }),
      outcome: { kind: 'misconfigured', status: 301 },
    },
  ];
  for (const { name, answer, outcome, absent } of cases) {
    answerOnce(network, answer);
    const { attempt } = await push(c);
    t.match(attempt.outcome, outcome, name);
    if (absent !== undefined) t.notOk(absent in attempt.outcome, `${name}: no ${absent}`);
  }
  t.same((await push(c)).attempt.outcome, { kind: 'success', status: 204 }, 'and the client goes on with the same pool');
});

t.test("keeps at most 4 KiB of Loki's answer, cut on a character boundary", async (t) => {
  const network = await mockNetwork(t, http.post(PUSH, () => new HttpResponse(null, { status: 204 })));
  const c = client(t);
  answerOnce(network, () => text(400, `x${'é'.repeat(10_000)}`));
  const { outcome } = (await push(c)).attempt;
  t.equal(outcome.kind, 'rejected');
  const message = outcome.kind === 'rejected' ? outcome.message : '';
  t.ok(Buffer.byteLength(message) <= MAX_ANSWER_BYTES, `${Buffer.byteLength(message)} bytes`);
  t.match(message, /^xé+$/, 'no broken character at the end');
  t.same((await push(c)).attempt.outcome, { kind: 'success', status: 204 }, 'the client goes on after a long answer');
});

t.test('a connection reset is a retryable network failure, and the next push gets through', async (t) => {
  const network = await mockNetwork(t, http.post(PUSH, () => new HttpResponse(null, { status: 204 })));
  const c = client(t);
  answerOnce(network, () => HttpResponse.error());
  t.match((await push(c)).attempt.outcome, { kind: 'retryable', reason: 'network', status: null, message: /\S/ });
  t.same((await push(c)).attempt.outcome, { kind: 'success', status: 204 });
});

t.test('headers slower than loki.timeout_seconds are a retryable timeout', async (t) => {
  const network = await mockNetwork(t, http.post(PUSH, () => new HttpResponse(null, { status: 204 })));
  const c = client(t, { timeout_seconds: 0.3 });
  answerOnce(network, async () => {
    await stalled(t);
    return new HttpResponse(null, { status: 204 });
  });
  const { attempt } = await push(c);
  t.match(attempt.outcome, { kind: 'retryable', reason: 'timeout', status: null, message: 'no complete answer within 300 ms' });
});

t.test('a body that stalls after the headers is a retryable timeout too', async (t) => {
  // With a Content-Length: without one undici reads the body until the connection closes, and
  // msw closing its socket at the end of the test completes a response undici had already
  // given up on (undici then fails an internal assertion).
  const network = await mockNetwork(t, http.post(PUSH, () => new HttpResponse(null, { status: 204 })));
  const c = client(t, { timeout_seconds: 0.3 });
  answerOnce(
    network,
    () =>
      new HttpResponse(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('partial'));
            return stalled(t);
          },
        }),
        { status: 500, headers: { 'content-type': 'text/plain', 'content-length': '100' } },
      ),
  );
  t.match((await push(c)).attempt.outcome, { kind: 'retryable', reason: 'timeout', status: null });
});

t.test('an answer slower than usual but within the timeout is a success', async (t) => {
  const network = await mockNetwork(t, http.post(PUSH, () => new HttpResponse(null, { status: 204 })));
  const c = client(t, { timeout_seconds: 10 });
  answerOnce(network, async () => {
    await delay(200);
    return new HttpResponse(null, { status: 204 });
  });
  t.same((await push(c)).attempt.outcome, { kind: 'success', status: 204 });
});
