import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { compressSync, uncompressSync } from 'snappy';
import t from 'tap';
import { request } from 'undici';
import { tokenOf } from '../../../src/http/auth.js';
import { jsonParseCost } from '../../../src/http/json-parse-cost.js';
import { decodeEntryAdapter } from '../../../src/loki/entry-codec.js';
import { parseLabels, type LokiEntry } from '../../../src/loki/entry.js';
import { MAX_LABEL_SET_BYTES } from '../../../src/wal/segment-format.js';
import { APP_TOKEN, send, startServer, type Answer, type TestServer } from '../../support/http-server.js';
import { referenceProtobufPush, type ReferenceStream } from '../../support/loki-stand-in.js';

const PUSH = '/loki/api/v1/push';
const PROTOBUF = 'application/x-protobuf';
const CARD = '4111 1111 1111 1111';

/** Now, in nanoseconds, with sub-millisecond digits so that precision loss would show. */
function nowNs(offsetMs = 0): string {
  return (BigInt(Date.now() + offsetMs) * 1_000_000n + 123_457n).toString();
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

interface PushOptions {
  path?: string;
  type?: string | null;
  encoding?: string;
  authorization?: string | null;
  headers?: Record<string, string>;
}

async function push(server: TestServer, body: Buffer | string, options: PushOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const type = options.type === undefined ? PROTOBUF : options.type;
  if (type !== null) headers['content-type'] = type;
  if (options.encoding !== undefined) headers['content-encoding'] = options.encoding;
  const authorization = options.authorization === undefined ? `Bearer ${APP_TOKEN}` : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  // Not send(): it would add a JSON Content-Type, and the type (or its absence) is under test here.
  const response = await request(server.url + (options.path ?? PUSH), { method: 'POST', headers, body });
  const text = await response.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, json };
}

async function walEntries(server: TestServer, name = 'app'): Promise<LokiEntry[]> {
  const wal = server.wal.token(name);
  const { records } = await wal.read(wal.cursor, { maxRecords: 10_000, maxBytes: 64 << 20 });
  return records.map((record) => decodeEntryAdapter(record.entry, record.labels));
}

function jsonBody(streams: Array<{ stream: Record<string, string>; values: unknown[][] }>): string {
  return JSON.stringify({ streams });
}

function tsNs(entry: LokiEntry): string {
  return (BigInt(entry.seconds) * 1_000_000_000n + BigInt(entry.nanos)).toString();
}

t.test('a protobuf + snappy push is in the WAL when 204 comes: labels, ns timestamps, lines, structured metadata; masked', async (t) => {
  const server = await startServer(t);
  const streams: ReferenceStream[] = [
    {
      labels: '{job="shop", env="prod"}',
      entries: [
        { tsNs: nowNs(-2), line: 'order 1 created', structuredMetadata: { trace_id: 'abc123', password: 'hunter2' } },
        { tsNs: nowNs(-1), line: `paid with ${CARD}` },
      ],
    },
    { labels: '{job="auth"}', entries: [{ tsNs: nowNs(), line: 'login ok', structuredMetadata: { user: 'jane' } }] },
  ];
  const answer = await push(server, referenceProtobufPush(streams));
  t.equal(answer.status, 204);
  t.equal(answer.text, '');
  t.ok(answer.headers['x-request-id'], 'a request id, as every answer');

  const entries = await walEntries(server);
  t.same(
    entries.map((e) => [parseLabels(e.labels), tsNs(e), e.line, Object.fromEntries(e.structuredMetadata)]),
    [
      [{ env: 'prod', job: 'shop' }, streams[0]!.entries[0]!.tsNs, 'order 1 created', { trace_id: 'abc123', password: '****' }],
      [{ env: 'prod', job: 'shop' }, streams[0]!.entries[1]!.tsNs, 'paid with ****1111', {}],
      [{ job: 'auth' }, streams[1]!.entries[0]!.tsNs, 'login ok', { user: 'jane' }],
    ],
  );
  t.match((await send(server, '/metrics')).text, /^logs_ingested_total\{token="app"\} 3$/m);
});

t.test('/api/prom/push takes protobuf, and JSON in the legacy logproto form', async (t) => {
  const server = await startServer(t);
  const ts = nowNs();
  t.equal((await push(server, referenceProtobufPush([{ labels: '{job="old"}', entries: [{ tsNs: ts, line: 'via protobuf' }] }]), { path: '/api/prom/push' })).status, 204);
  const iso = new Date().toISOString().replace('Z', '123456Z');
  const legacy = JSON.stringify({ streams: [{ labels: '{job="old"}', entries: [{ ts: iso, line: 'via legacy JSON' }] }] });
  t.equal((await push(server, legacy, { path: '/api/prom/push', type: 'application/json' })).status, 204);
  const entries = await walEntries(server);
  t.same(entries.map((e) => e.line), ['via protobuf', 'via legacy JSON']);
  t.equal(entries[1]!.nanos % 1_000_000, 123_456, 'the legacy RFC 3339 timestamp keeps its nanoseconds');
});

t.test('JSON pushes: values with and without structured metadata, identity, gzip and deflate', async (t) => {
  const server = await startServer(t);
  const ts = nowNs();
  const body = jsonBody([{ stream: { app: 'web' }, values: [[ts, 'plain'], [ts, 'with metadata', { request_id: 'r-1' }]] }]);
  t.equal((await push(server, body, { type: 'application/json' })).status, 204);
  t.equal((await push(server, gzipSync(body), { type: 'application/json', encoding: 'gzip' })).status, 204);
  t.equal((await push(server, deflateRawSync(body), { type: 'application/json; charset=utf-8', encoding: 'deflate' })).status, 204, "raw deflate, as Go's flate reads it");
  t.equal((await push(server, deflateSync(body), { type: 'application/json', encoding: 'deflate' })).status, 204, 'zlib-wrapped deflate, as HTTP means it');
  const entries = await walEntries(server);
  t.equal(entries.length, 8);
  t.same(entries.slice(0, 2).map((e) => [e.labels, tsNs(e), e.line, e.structuredMetadata]), [
    ['{app="web"}', ts, 'plain', []],
    ['{app="web"}', ts, 'with metadata', [['request_id', 'r-1']]],
  ]);
  t.same(entries.slice(2).map((e) => e.line), ['plain', 'with metadata', 'plain', 'with metadata', 'plain', 'with metadata']);
});

t.test('a gzip-encoded protobuf push is read, as Loki reads it', async (t) => {
  const server = await startServer(t);
  const body = gzipSync(referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'gzip over snappy' }] }]));
  t.equal((await push(server, body, { encoding: 'gzip' })).status, 204);
  t.equal((await push(server, referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'no type' }] }]), { type: null })).status, 204, 'no Content-Type: protobuf');
  t.same((await walEntries(server)).map((e) => e.line), ['gzip over snappy', 'no type']);
});

t.test('authentication: Bearer, or Basic with the token as password; 401 otherwise', async (t) => {
  const server = await startServer(t);
  const body = () => referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'hello' }] }]);
  t.equal((await push(server, body(), { authorization: basic('anyone', APP_TOKEN) })).status, 204, 'Basic: the user is ignored');
  t.equal((await push(server, body(), { authorization: basic('', APP_TOKEN) })).status, 204, 'Basic with an empty user');
  for (const [what, authorization] of [
    ['no credentials', null],
    ['an unknown token', `Bearer tok_unknown_0123456789ab`],
    ['the token as Basic user', basic(APP_TOKEN, '')],
    ['Basic without a colon', `Basic ${Buffer.from(APP_TOKEN).toString('base64')}`],
  ] as const) {
    const answer = await push(server, body(), { authorization });
    t.equal(answer.status, 401, what);
    t.equal(answer.headers['www-authenticate'], 'Bearer realm="logstack", Basic realm="logstack"', what);
    t.match(answer.json, { error: 'unauthorized', request_id: String }, what);
  }
  const ingest = await send(server, '/v1/logs:ingest', { headers: { authorization: basic('u', APP_TOKEN) }, body: '{"entries": []}' });
  t.equal(ingest.status, 401, 'Basic stays a Loki-client courtesy: /v1/logs:ingest wants Bearer');
  t.equal((await walEntries(server)).length, 2);
  t.notOk(server.logText().includes(APP_TOKEN), 'the token is never logged');
});

t.test('tokenOf reads Bearer always and Basic only when asked', async (t) => {
  t.equal(tokenOf(`Bearer ${APP_TOKEN}`, ['bearer']), APP_TOKEN);
  t.equal(tokenOf(basic('u', APP_TOKEN), ['bearer']), undefined);
  t.equal(tokenOf(basic('u', APP_TOKEN), ['bearer', 'basic']), APP_TOKEN);
  t.equal(tokenOf(`basic ${Buffer.from(`u:${APP_TOKEN}`).toString('base64')}`, ['basic']), APP_TOKEN, 'the scheme is case-insensitive');
  t.equal(tokenOf(basic('u', 'pa:ss'), ['basic']), 'pa:ss', 'the password runs to the end: only the first colon splits');
  t.equal(tokenOf('Basic not*base64', ['basic']), undefined);
});

t.test('the client X-Scope-OrgID does not reach the WAL: the key has one tenant', async (t) => {
  const server = await startServer(t);
  const body = referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'hello' }] }]);
  t.equal((await push(server, body, { headers: { 'x-scope-orgid': 'someone-else' } })).status, 204);
  t.equal((await walEntries(server)).length, 1, "appended to the key's own WAL, shipped with the key's tenant");
});

t.test('400 invalid_push_body for bodies that are not push requests; nothing is written', async (t) => {
  const server = await startServer(t);
  const good = referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'a line long enough to be cut in the middle' }] }]);
  const cases: Array<[string, Buffer | string, PushOptions, RegExp]> = [
    ['not snappy', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), {}, /not snappy-compressed/],
    ['truncated snappy', good.subarray(0, -4), {}, /snappy block is corrupt or truncated/],
    ['truncated protobuf', compressSync((uncompressSync(good) as Buffer).subarray(0, -5)), {}, /truncated or malformed protobuf/],
    ['an empty body', '', {}, /not snappy|empty/],
    ['corrupt gzip', gzipSync('{"streams": []}').subarray(0, 12), { type: 'application/json', encoding: 'gzip' }, /gzip stream is corrupt/],
    ['JSON of another shape', '{"entries": []}', { type: 'application/json' }, /must be an object \{"streams"/],
    ['a number timestamp', jsonBody([{ stream: { a: 'b' }, values: [[Date.now(), 'x']] }]), { type: 'application/json' }, /streams\[0\]\.values\[0\]\[0\] must be a string of nanoseconds/],
    ['a non-string label', JSON.stringify({ streams: [{ stream: { a: 1 }, values: [] }] }), { type: 'application/json' }, /streams\[0\]\.stream\.a must be a string/],
  ];
  for (const [what, body, options, message] of cases) {
    const answer = await push(server, body, options);
    t.equal(answer.status, 400, what);
    t.match(answer.json, { error: 'invalid_push_body', message, request_id: answer.headers['x-request-id'] }, what);
  }
  const notJson = await push(server, '{"streams": [', { type: 'application/json' });
  t.match(notJson, { status: 400, json: { error: 'invalid_json' } });
  t.equal((await walEntries(server)).length, 0);
  t.match((await send(server, '/metrics')).text, /^logs_rejected_total\{token="app",reason="invalid_push_body"\} 8$/m);
});

t.test('415 for content types and codings Loki does not take', async (t) => {
  const server = await startServer(t);
  const body = referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'x' }] }]);
  for (const [type, encoding, error] of [
    ['text/plain', undefined, 'unsupported_media_type'],
    ['application/x-www-form-urlencoded', undefined, 'unsupported_media_type'],
    [PROTOBUF, 'br', 'unsupported_content_encoding'],
    ['application/json', 'snappy', 'unsupported_content_encoding'],
  ] as const) {
    const answer = await push(server, body, { type, ...(encoding === undefined ? {} : { encoding }) });
    t.equal(answer.status, 415, `${type} ${encoding ?? ''}`);
    t.equal(answer.json.error, error);
  }
});

t.test('413 for bodies over limits.max_body_bytes, as sent or once decompressed: snappy and gzip bombs are cut off', async (t) => {
  const server = await startServer(t, { config: { limits: { max_body_bytes: 64 * 1024 } } });
  const big = 'x'.repeat(200 * 1024);
  const cases: Array<[string, Buffer | string, PushOptions]> = [
    ['as sent', Buffer.alloc(100 * 1024), {}],
    ['a snappy block that declares 4 GiB', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), {}],
    ['a snappy block that truly inflates past the limit', referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: big }] }]), {}],
    ['a gzip bomb', gzipSync(Buffer.alloc(16 << 20)), { type: 'application/json', encoding: 'gzip' }],
    ['a deflate bomb', deflateRawSync(Buffer.alloc(16 << 20)), { type: 'application/json', encoding: 'deflate' }],
  ];
  for (const [what, body, options] of cases) {
    t.ok(body.length < 64 * 1024 || what === 'as sent', `${what}: ${body.length} bytes sent`);
    const answer = await push(server, body, options);
    t.equal(answer.status, 413, what);
    t.match(answer.json, { error: 'payload_too_large', message: /65536 bytes/ }, what);
  }
});

t.test('what JSON.parse would hold is charged to the body budget first, JSON and legacy JSON: a body that fits exactly is parsed, one value more is 413', async (t) => {
  // No entries, so that nothing but the body and its parse is charged: members, and empty objects, under a field Loki ignores.
  const members = (n: number) => Buffer.from(`{"streams":[{"stream":{"a":"b"},"values":[],"x":{${Array.from({ length: n }, (_, i) => `"k${i}":""`).join(',')}}}]}`);
  const objects = (n: number) => Buffer.from(`{"streams":[{"labels":"{a=\\"b\\"}","entries":[],"x":[${Array(n).fill('{}').join(',')}]}]}`);
  const charged = (body: Buffer) => body.length + jsonParseCost(body);
  for (const [what, body, path] of [
    ['JSON', members, PUSH],
    ['legacy JSON', objects, '/api/prom/push'],
  ] as const) {
    const atBound = body(1000);
    const budget = charged(atBound);
    const server = await startServer(t, { config: { limits: { max_body_bytes: 16384, max_body_bytes_in_flight: budget, max_body_bytes_in_flight_per_key: budget } } });
    t.equal((await push(server, atBound, { path, type: 'application/json' })).status, 204, `${what} at the bound: parsed`);
    const over = body(1001);
    const refused = await push(server, over, { path, type: 'application/json' });
    t.equal(refused.status, 413, `${what}, one value more`);
    t.match(refused.json, { error: 'payload_too_large', message: `Parsed, the JSON body would hold ${charged(over)} bytes of memory, more than limits.max_body_bytes_in_flight_per_key (${budget})` });
    const gzipped = await push(server, gzipSync(body(2000)), { path, type: 'application/json', encoding: 'gzip' });
    t.equal(gzipped.status, 413, `${what} gzipped: what it inflates to`);
    t.match((await send(server, '/metrics')).text, /^http_body_bytes_in_flight 0$/m, `${what}: everything charged is given back`);
    t.equal(server.wal.token('app').stats().lastSeq, 0, `${what}: nothing is written`);
  }
});

t.test('a push at the documented limits gets 204 at the defaults; one that could never fit the budget is 413, never 503', async (t) => {
  const maxEntries = 50_000;
  const maxBodyBytes = 5 * 1024 * 1024;
  const at = BigInt(Date.now()) * 1_000_000n;
  const values = (line: string) => Array.from({ length: maxEntries }, (_, i) => [(at + BigInt(i)).toString(), line]);
  const tiny = Buffer.from(jsonBody([{ stream: { job: 'tiny' }, values: values('x') }]));
  // Lines long enough to bring the body up to limits.max_body_bytes exactly.
  const lineBytes = Math.floor((maxBodyBytes - tiny.length) / maxEntries) + 1;
  const largeBody = jsonBody([{ stream: { job: 'large' }, values: values('y'.repeat(lineBytes)) }]);
  const large = Buffer.from(largeBody + ' '.repeat(maxBodyBytes - Buffer.byteLength(largeBody)));
  t.equal(large.length, maxBodyBytes);
  const protobuf = referenceProtobufPush([{ labels: '{job="proto"}', entries: Array.from({ length: maxEntries }, (_, i) => ({ tsNs: (at + BigInt(i)).toString(), line: 'z' })) }]);

  // The defaults: loki_push.max_entries_per_push 50,000, limits.max_body_bytes 5 MiB.
  const server = await startServer(t);
  for (const [what, body, type] of [
    ['50,000 one-byte lines, JSON', tiny, 'application/json'],
    ['50,000 entries in 5 MiB of JSON', large, 'application/json'],
    ['50,000 one-byte lines, protobuf', protobuf, PROTOBUF],
  ] as const) {
    t.equal((await push(server, body, { type })).status, 204, `${what}: stored`);
    t.match((await send(server, '/metrics')).text, /^http_body_bytes_in_flight 0$/m, `${what}: everything charged is given back`);
  }
  t.equal(server.wal.token('app').stats().lastSeq, 3 * maxEntries);

  // Too small a budget for one such push: refused for what it is, since a 503 would be retried forever.
  const small = await startServer(t, { config: { limits: { max_body_bytes_in_flight: 16 * 1024 * 1024, max_body_bytes_in_flight_per_key: 16 * 1024 * 1024 } } });
  for (const [what, body, type] of [
    ['JSON', tiny, 'application/json'],
    ['protobuf', protobuf, PROTOBUF],
  ] as const) {
    const refused = await push(small, body, { type });
    t.equal(refused.status, 413, `${what}: over the whole budget`);
    t.match(refused.json, { error: 'payload_too_large', message: /^Decoded, the request would hold \d+ bytes of memory, more than limits\.max_body_bytes_in_flight_per_key \(16777216\)/ });
    t.equal((await push(small, body, { type })).status, 413, `${what}: again, not 503`);
  }
  t.equal(small.wal.token('app').stats().lastSeq, 0, 'nothing is written');
});

t.test('400 validation_failed lists each problem by stream and entry, never quoting a value; nothing is written', async (t) => {
  const server = await startServer(t, { config: { limits: { max_message_bytes: 100, max_metadata_keys: 2, max_past_seconds: 3600, max_future_seconds: 60 } } });
  const many = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`l${i}`, 'v']));
  const secret = 'hunter2-secret-value';
  const streams: ReferenceStream[] = [
    { labels: '{job="ok"}', entries: [{ tsNs: nowNs(), line: 'fine' }] },
    { labels: `{job="x", bad-name="${secret}"}`, entries: [{ tsNs: nowNs(), line: 'x' }] },
    { labels: `{job="x" env="${secret}"}`, entries: [{ tsNs: nowNs(), line: 'x' }] },
    { labels: `{${Object.entries(many).map(([k, v]) => `${k}="${v}"`).join(', ')}}`, entries: [{ tsNs: nowNs(), line: 'x' }, { tsNs: nowNs(), line: 'y' }] },
    { labels: `{__name__="${secret}"}`, entries: [{ tsNs: nowNs(), line: 'x' }] },
    { labels: `{job="${'v'.repeat(2049)}"}`, entries: [{ tsNs: nowNs(), line: 'x' }] },
    {
      labels: '{job="ok"}',
      entries: [
        { tsNs: nowNs(), line: secret.repeat(10) },
        { tsNs: nowNs(-2 * 3600_000), line: secret },
        { tsNs: nowNs(120_000), line: secret },
        { tsNs: nowNs(), line: 'x', structuredMetadata: { a: '1', b: '2', c: secret } },
      ],
    },
  ];
  const answer = await push(server, referenceProtobufPush(streams));
  t.equal(answer.status, 400);
  t.match(answer.json, { error: 'validation_failed', message: '10 of 11 entries are invalid; nothing of the push was written' });
  t.match(answer.json.details, [
    { stream: 1, reason: /label 1 has an invalid name/ },
    { stream: 2, reason: /not a label set like \{app="shop"\}: a , or \} is missing at character 9/ },
    { stream: 3, reason: /has 16 labels; Loki accepts at most 15/ },
    { stream: 4, reason: /label "__name__" starts with __/ },
    { stream: 5, reason: /label "job" has a value longer than 2048 bytes/ },
    { stream: 6, entry: 0, reason: /line longer than 100 UTF-8 bytes/ },
    { stream: 6, entry: 1, reason: /more than 3600 s in the past/ },
    { stream: 6, entry: 2, reason: /more than 60 s in the future/ },
    { stream: 6, entry: 3, reason: /3 structured metadata pairs; at most 2/ },
  ]);
  t.equal(answer.json.details.length, 9);
  t.notOk(answer.text.includes(secret), 'no value is quoted back');
  t.equal((await walEntries(server)).length, 0, 'all or nothing: the valid entry is not written either');
  t.match((await send(server, '/metrics')).text, /^logs_rejected_total\{token="app",reason="validation_failed"\} 11$/m);
});

t.test('labels: allow and deny lists filter client labels, static labels are added and win', async (t) => {
  const server = await startServer(t, {
    config: { loki_push: { label_allowlist: ['job', 'env', 'pod', 'team'], label_denylist: ['pod'] }, loki: { static_labels: { cluster: 'eu-1', team: 'ops' } } },
  });
  const body = jsonBody([{ stream: { job: 'shop', env: 'prod', pod: 'shop-7f9c', filename: '/var/log/x.log', team: 'dev' }, values: [[nowNs(), 'hi']] }]);
  t.equal((await push(server, body, { type: 'application/json' })).status, 204);
  const [entry] = await walEntries(server);
  t.equal(entry!.labels, '{cluster="eu-1", env="prod", job="shop", team="ops"}');
});

t.test('label values and JSON lines are masked by key; text lines by value pattern', async (t) => {
  const server = await startServer(t);
  const line = '{"msg":"login","user":{"email":"jane.doe@example.com","password":"hunter2"},"id":12345678901234567890}';
  const body = jsonBody([{ stream: { job: 'shop', token: 'abc' }, values: [[nowNs(), line], [nowNs(), `auth Bearer sk_live_abcdef0123456789`]] }]);
  t.equal((await push(server, body, { type: 'application/json' })).status, 204);
  const entries = await walEntries(server);
  t.equal(entries[0]!.labels, '{job="shop", token="****"}');
  t.equal(entries[0]!.line, '{"msg":"login","user":{"email":"j******e@example.com","password":"****"},"id":12345678901234567890}');
  t.equal(entries[1]!.line, 'auth Bearer ****');
});

t.test('429 with Retry-After: rate limit and WAL quota; 503 under the disk reserve', async (t) => {
  const body = () => referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'x'.repeat(400) }] }]);

  const limited = await startServer(t, { config: { security: { rate_limit_rps: 0.01, rate_limit_burst: 1, api_keys: { [APP_TOKEN]: { name: 'app' } } } } });
  t.equal((await push(limited, body())).status, 204);
  const rateLimited = await push(limited, body());
  t.equal(rateLimited.status, 429);
  t.ok(Number(rateLimited.headers['retry-after']) >= 1);
  t.equal(rateLimited.json.error, 'rate_limit_exceeded');

  const small = await startServer(t, { quotaBytes: 1024 });
  let answer = await push(small, body());
  for (let i = 0; answer.status === 204 && i < 20; i++) answer = await push(small, body());
  t.equal(answer.status, 429);
  t.ok(Number(answer.headers['retry-after']) >= 1);
  t.equal(answer.json.error, 'wal_quota_exceeded');
  t.match((await send(small, '/metrics')).text, /^logs_rejected_total\{token="app",reason="wal_quota_exceeded"\} 1$/m);

  const full = await startServer(t, { diskReservePercent: 100 });
  const reserve = await push(full, body());
  t.equal(reserve.status, 503);
  t.ok(Number(reserve.headers['retry-after']) >= 1);
  t.equal(reserve.json.error, 'disk_reserve_reached');
});

t.test('a label set larger than a WAL record holds is refused with 413 record_too_large, nothing written, when the label limits are raised that far', async (t) => {
  const server = await startServer(t, { config: { loki_push: { max_label_value_length: 2 * 1024 * 1024 } } });
  // `{big="…"}`: 8 bytes around the value; at the bound it is taken, one byte over it is not.
  const pushOf = (labelBytes: number) => referenceProtobufPush([{ labels: `{big="${'v'.repeat(labelBytes - 8)}"}`, entries: [{ tsNs: nowNs(), line: 'x' }] }]);
  t.equal((await push(server, pushOf(MAX_LABEL_SET_BYTES))).status, 204, 'a label set of 1 MiB is taken');
  const over = await push(server, pushOf(MAX_LABEL_SET_BYTES + 1));
  t.equal(over.status, 413);
  t.equal(over.json.error, 'record_too_large');
  t.equal((await walEntries(server)).length, 1, 'nothing of the refused push is in the WAL');
});

t.test('loki_push.enabled: false leaves the endpoints out', async (t) => {
  const server = await startServer(t, { config: { loki_push: { enabled: false } } });
  t.equal((await push(server, referenceProtobufPush([{ labels: '{job="x"}', entries: [{ tsNs: nowNs(), line: 'x' }] }]))).status, 404);
});
