/**
 * `logstack flush | status | dead-letters` against every answer the admin API (or something
 * else at its URL) can give, each exchange scripted with msw at the socket; the commands run in
 * this process, as `main` runs them. Against a real service: admin-service.test.ts.
 */
import { createServer } from 'node:net';
import { http, HttpResponse } from 'msw';
import t from 'tap';
import type { Test } from 'tap';
import { adminCommand, type AdminCommand } from '../../src/cli/admin-commands.js';
import { mockNetwork } from '../support/mock-network.js';
import { freePort } from '../support/ports.js';

const SERVICE = 'http://logstack-0.logstack.test:8000';
const TOKEN = 'adm_9f8e7d6c5b4a39281706';
const NOW_MS = Date.parse('2026-11-23T10:00:00Z');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: AdminCommand, args: string[] = [], env: NodeJS.ProcessEnv = {}, extra: { answerTimeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await adminCommand(command, args, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: { LOGSTACK_URL: SERVICE, LOGSTACK_ADMIN_TOKEN: TOKEN, ...env },
    now: () => NOW_MS,
    ...extra,
  });
  return { code, stdout, stderr };
}

interface Seen {
  method: string;
  url: URL;
  authorization: string | null;
}

/** The admin API at SERVICE: each route answers `answers[route]`, and every request is kept. */
async function adminApi(t: Test, answers: Partial<Record<'status' | 'flush' | 'dead-letters' | 'replay', (request: Request) => Response | Promise<Response>>>) {
  const seen: Seen[] = [];
  const keep = (request: Request) => void seen.push({ method: request.method, url: new URL(request.url), authorization: request.headers.get('authorization') });
  const route = (answer: ((request: Request) => Response | Promise<Response>) | undefined) => ({ request }: { request: Request }) => {
    keep(request);
    return answer ? answer(request) : HttpResponse.json({ error: 'not_found', message: 'no route' }, { status: 404 });
  };
  const network = await mockNetwork(
    t,
    http.get(`${SERVICE}/v1/admin/status`, route(answers.status)),
    http.post(`${SERVICE}/v1/admin/flush`, route(answers.flush)),
    http.get(`${SERVICE}/v1/admin/dead-letters`, route(answers['dead-letters'])),
    http.post(`${SERVICE}/v1/admin/dead-letters\\:replay`, route(answers.replay)),
  );
  return { seen, network };
}

function apiError(status: number, error: string, message: string, details?: unknown): Response {
  return HttpResponse.json({ error, message, request_id: 'req-1', ...(details === undefined ? {} : { details }) }, { status });
}

const STATUS = {
  service: 'logstack',
  version: '0.1.0',
  uptime_seconds: 7_384,
  wal: { state: 'open', disk: { freePercent: 41.2, freeBytes: 8e9, reservePercent: 5, ok: true } },
  tokens: {
    'payments-api': {
      segments: 3,
      disk_bytes: 5_400_000,
      quota_bytes: 2_147_483_648,
      pending_entries: 12_400,
      pending_bytes: 5_347_737,
      oldest_pending_age_seconds: 42.4,
      last_seq: 90_000,
      acked_seq: 77_600,
      corrupt_records: 0,
      failed: false,
      tenant: 'payments',
      delivery: 'retrying',
      consecutive_failures: 2,
      next_attempt_in_ms: 3_000,
      last_push: { result: 'retryable', status: 429, message: 'Ingestion rate limit exceeded', at: '2026-11-23T09:59:58.000Z' },
      dead_letters: 0,
    },
    'user-service': {
      pending_entries: 0,
      pending_bytes: 0,
      oldest_pending_age_seconds: null,
      failed: false,
      delivery: 'ok',
      consecutive_failures: 0,
      next_attempt_in_ms: 0,
      last_push: { result: 'success', status: 204, message: null, at: '2026-11-23T09:59:59.000Z' },
      dead_letters: 3,
    },
  },
  forwarder: { state: 'running' },
  loki: { url: 'http://loki:3100/loki/api/v1/push', reachable: true, detail: 'ready' },
};

const FLUSH_PROGRESS = {
  'payments-api': { targetSeq: 90_000, ackedSeq: 81_200, pendingEntries: 8_800, delivered: false, health: 'retrying' },
  'user-service': { targetSeq: 1_500, ackedSeq: 1_500, pendingEntries: 0, delivered: true, health: 'ok' },
};

t.test('status prints a table per key, asking with the admin token from LOGSTACK_ADMIN_TOKEN at LOGSTACK_URL', async (t) => {
  const api = await adminApi(t, { status: () => HttpResponse.json(STATUS) });
  const { code, stdout, stderr } = await run('status');
  t.equal(code, 0);
  t.equal(stderr, '');
  t.equal(api.seen.length, 1);
  t.equal(api.seen[0]!.authorization, `Bearer ${TOKEN}`);
  t.equal(api.seen[0]!.url.href, `${SERVICE}/v1/admin/status`);
  const lines = stdout.split('\n');
  t.equal(lines[0], 'LogStack 0.1.0, up 2h 3m, forwarder running, WAL open, disk 41% free');
  t.equal(lines[1], 'Loki http://loki:3100/loki/api/v1/push: reachable');
  const header = lines.findIndex((l) => l.startsWith('KEY'));
  t.match(lines[header], /^KEY +BACKLOG +BYTES +OLDEST +DELIVERY +LAST PUSH +DEAD LETTERS$/);
  t.match(lines[header + 1], /^payments-api +12,400 +5\.1 MiB +42s +retrying \(2 failed, next try in 3s\) +429 retryable, 2s ago +0$/);
  t.match(lines[header + 2], /^user-service +0 +0 B +- +ok +204, 1s ago +3$/);
  t.notMatch(stdout, TOKEN);
});

t.test('status --json prints the admin API answer itself, for scripts', async (t) => {
  await adminApi(t, { status: () => HttpResponse.json(STATUS) });
  const { code, stdout } = await run('status', ['--json']);
  t.equal(code, 0);
  t.same(JSON.parse(stdout), STATUS);
});

t.test('status of a service that sends fewer fields still prints a table', async (t) => {
  await adminApi(t, { status: () => HttpResponse.json({ version: '0.0.9', tokens: { old: { pending_entries: 5 } } }) });
  const { code, stdout } = await run('status');
  t.equal(code, 0);
  t.match(stdout, /^old +5 +- +- +- +- +-$/m);
});

t.test('flush asks for delivery now and exits 0 at once', async (t) => {
  const api = await adminApi(t, { flush: () => HttpResponse.json({ flushing: true, complete: false, tokens: FLUSH_PROGRESS }, { status: 202 }) });
  const { code, stdout } = await run('flush');
  t.equal(code, 0);
  t.equal(api.seen[0]!.url.search, '', 'no wait asked');
  t.match(stdout, /^flush started: 2 keys, 8,800 entries to deliver$/m);
  t.match(stdout, /^ {2}payments-api: 8,800 entries left \(delivered up to seq 81200 of 90000\), delivery retrying$/m);
});

t.test('flush --wait --timeout 45s waits for the delivery and exits 0 once everything is at Loki', async (t) => {
  const delivered = Object.fromEntries(Object.entries(FLUSH_PROGRESS).map(([k, p]) => [k, { ...p, ackedSeq: p.targetSeq, pendingEntries: 0, delivered: true }]));
  const api = await adminApi(t, { flush: () => HttpResponse.json({ complete: true, tokens: delivered }) });
  const { code, stdout, stderr } = await run('flush', ['--wait', '--timeout', '45s']);
  t.equal(code, 0);
  t.same(Object.fromEntries(api.seen[0]!.url.searchParams), { wait: 'true', timeout_seconds: '45' });
  t.match(stderr, /waiting up to 45 s/);
  t.match(stdout, /^delivered: everything appended before the flush is at Loki \(2 keys\)$/m);
  t.match(stdout, /^ {2}payments-api: delivered$/m);
});

t.test('flush --wait out of time exits 1 and prints each key\'s progress', async (t) => {
  const api = await adminApi(t, { flush: () => apiError(504, 'flush_timeout', 'Not everything was delivered within 30 s; details has each token', FLUSH_PROGRESS) });
  const { code, stdout, stderr } = await run('flush', ['--wait']);
  t.equal(code, 1);
  t.equal(api.seen[0]!.url.searchParams.get('timeout_seconds'), '30', 'the default wait is 30 s');
  t.equal(stdout, '');
  const lines = stderr.trimEnd().split('\n');
  t.same(lines.slice(1), [
    "logstack: not everything was delivered within 30 s; each key's progress:",
    '  payments-api: 8,800 entries left (delivered up to seq 81200 of 90000), delivery retrying',
    '  user-service: delivered',
  ]);
});

t.test('dead-letters prints counts, reasons and the newest refusals', async (t) => {
  const answer = {
    tokens: {
      'payments-api': {
        entries: 12,
        batches: 2,
        bytes: 4_096,
        droppedEntries: 0,
        reasons: { timestamp_too_old: 10, line_too_long: 2 },
        samples: [
          {
            at: '2026-11-23T09:00:00.000Z',
            status: 400,
            reason: 'timestamp_too_old',
            message: "entry for stream '{env=\"prod\"}' has timestamp too old: 2026-11-01T00:00:00Z,\noldest acceptable timestamp is: 2026-11-16T10:00:00Z",
            entries: 10,
            first: { ts: '2026-11-01T00:00:00Z', labels: '{env="prod", service="payments"}', line: 'card ****1111 declined' },
          },
        ],
      },
      'user-service': { entries: 0, batches: 0, bytes: 0, droppedEntries: 0, reasons: {}, samples: [] },
    },
  };
  await adminApi(t, { 'dead-letters': () => HttpResponse.json(answer) });
  const { code, stdout } = await run('dead-letters');
  t.equal(code, 0);
  t.match(stdout, /^payments-api +12 +4\.0 KiB +0 +timestamp_too_old 10, line_too_long 2$/m);
  t.match(stdout, /^user-service +0 +0 B +0 +-$/m);
  t.match(stdout, /^ {2}2026-11-23T09:00:00.000Z {2}400 timestamp_too_old, 10 entries: entry for stream .* too old: 2026-11-01T00:00:00Z, oldest acceptable/m);
  t.match(stdout, /^ {4}first: \{env="prod", service="payments"\} card \*\*\*\*1111 declined$/m);
  t.match(stdout, /logstack dead-letters --replay/);
  const json = await run('dead-letters', ['--json']);
  t.same(JSON.parse(json.stdout), answer);
});

// Every character a terminal takes as a command: C0, DEL, C1 (CSI is \x9b), bidi overrides and isolates.
const TERMINAL_COMMANDS = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

t.test("dead-letters shows a client's escape sequences as escapes, never sends them to the terminal", async (t) => {
  const line = '\x1b]0;PWNED\x07\x1b[2J\x1b[31mFAKE: all keys delivered\x1b[0m \u202etxt.exe\u202c \x9b2J';
  const answer = {
    tokens: {
      'payments-api': {
        entries: 1,
        bytes: 100,
        droppedEntries: 0,
        reasons: { 'bad\x1b[8m': 1 },
        samples: [
          {
            at: '2026-11-23T09:00:00.000Z\x1b[2K',
            status: 400,
            reason: 'invalid_labels\x7f',
            message: 'error at \x1b[1mline\x1b[0m\u2066',
            entries: 1,
            first: { ts: '2026-11-23T09:00:00Z', labels: '{evil="a\n\nFAKE ROW\x1b[8m"}', line },
          },
        ],
      },
    },
  };
  await adminApi(t, { 'dead-letters': () => HttpResponse.json(answer) });
  const { code, stdout } = await run('dead-letters');
  t.equal(code, 0);
  t.notMatch(stdout, TERMINAL_COMMANDS, 'no control character, C1 or bidi override reaches the terminal');
  t.match(stdout, /^ {4}first: \{evil="a\\x0a\\x0aFAKE ROW\\x1b\[8m"\} \\x1b\]0;PWNED\\x07\\x1b\[2J\\x1b\[31mFAKE: all keys delivered\\x1b\[0m \\u202etxt\.exe\\u202c \\x9b2J$/m);
  t.notMatch(stdout, /^FAKE ROW/m, 'the labels stay on their line');
  t.match(stdout, /bad\\x1b\[8m 1/);
  t.match(stdout, /invalid_labels\\x7f, 1 entries: error at \\x1b\[1mline\\x1b\[0m\\u2066$/m);
  const json = await run('dead-letters', ['--json']);
  t.same(JSON.parse(json.stdout), answer, '--json is the answer itself, JSON-escaped');
});

t.test("status and a service's refusal show control characters as escapes", async (t) => {
  await adminApi(t, {
    status: () => HttpResponse.json({ version: '1.0\x1b[2J', loki: { url: 'http://loki\u202e', reachable: false, detail: 'refused\x07' }, tokens: { 'payments-api': { delivery: 'retrying\x1b[31m', pending_entries: 1 } } }),
    replay: () => apiError(400, 'bad_request', 'no token named "\x1b]0;PWNED\x07"'),
  });
  const status = await run('status');
  t.equal(status.code, 0);
  t.notMatch(status.stdout, TERMINAL_COMMANDS);
  t.match(status.stdout, /LogStack 1\.0\\x1b\[2J/);
  t.match(status.stdout, /Loki http:\/\/loki\\u202e: unreachable \(refused\\x07\)/);
  t.match(status.stdout, /retrying\\x1b\[31m/);
  const refused = await run('dead-letters', ['--replay', '--key', 'payments']);
  t.equal(refused.code, 8);
  t.notMatch(refused.stderr, TERMINAL_COMMANDS);
  t.match(refused.stderr, /no token named "\\x1b\]0;PWNED\\x07"\n$/);
});

t.test('dead-letters --replay --key requeues one key', async (t) => {
  const api = await adminApi(t, { replay: () => HttpResponse.json({ replayed: { 'payments-api': 12 } }) });
  const { code, stdout } = await run('dead-letters', ['--replay', '--key', 'payments-api']);
  t.equal(code, 0);
  t.equal(api.seen[0]!.method, 'POST');
  t.equal(api.seen[0]!.url.pathname, '/v1/admin/dead-letters:replay');
  t.equal(api.seen[0]!.url.searchParams.get('token'), 'payments-api');
  t.match(stdout, /^12 entries requeued into the WAL/m);
  t.match(stdout, /^ {2}payments-api: 12 entries requeued$/m);
});

t.test("dead-letters --replay of a key the service does not have is the service's refusal, exit 8", async (t) => {
  await adminApi(t, { replay: () => apiError(400, 'bad_request', 'no token named "payments"') });
  const { code, stdout, stderr } = await run('dead-letters', ['--replay', '--key', 'payments']);
  t.equal(code, 8);
  t.equal(stdout, '');
  t.equal(stderr, `logstack: ${SERVICE}/v1/admin/dead-letters:replay answered 400 bad_request: no token named "payments"\n`);
});

t.test('each failure is one line on stderr with its own exit code, and never the token', async (t) => {
  const cases: Array<{ name: string; answer: () => Response; code: number; line: RegExp }> = [
    { name: '401', answer: () => apiError(401, 'unauthorized', 'Missing, unknown or inactive API token'), code: 4, line: /answered 401: the admin token \(from LOGSTACK_ADMIN_TOKEN\) is not accepted/ },
    { name: '403', answer: () => apiError(403, 'forbidden', 'This endpoint needs the admin token'), code: 5, line: /answered 403: the token \(from LOGSTACK_ADMIN_TOKEN\) is an API key/ },
    { name: "a gateway's 504", answer: () => new HttpResponse('<html>504 Gateway Time-out</html>', { status: 504, headers: { 'content-type': 'text/html' } }), code: 6, line: /answered 504: a gateway in front of LogStack gave up/ },
    { name: 'an HTML page', answer: () => new HttpResponse('<html>hello</html>', { status: 200, headers: { 'content-type': 'text/html' } }), code: 7, line: /answered 200 \(text\/html\), not LogStack's admin API/ },
    { name: 'a 404 in plain text', answer: () => new HttpResponse('404 page not found', { status: 404, headers: { 'content-type': 'text/plain' } }), code: 7, line: /answered 404 \(text\/plain\), not LogStack's admin API/ },
    { name: 'JSON that does not parse', answer: () => new HttpResponse('{"version": ', { status: 200, headers: { 'content-type': 'application/json' } }), code: 7, line: /answered 200 \(application\/json\), not LogStack's admin API/ },
    { name: 'JSON of something else', answer: () => HttpResponse.json({ status: 'success', data: [] }), code: 7, line: /JSON without "version"/ },
    { name: 'a JSON array', answer: () => HttpResponse.json([1, 2]), code: 7, line: /not LogStack's admin API/ },
    { name: '503 shutting down', answer: () => apiError(503, 'shutting_down', 'LogStack is shutting down; retry on another instance'), code: 8, line: /answered 503 shutting_down: LogStack is shutting down/ },
    { name: '500', answer: () => apiError(500, 'internal_error', 'Internal error; see the logs for request req-1'), code: 8, line: /answered 500 internal_error/ },
    { name: 'a message over several lines', answer: () => apiError(500, 'internal_error', 'first\nsecond'), code: 8, line: /internal_error: first second$/m },
    { name: 'a reset connection', answer: () => HttpResponse.error(), code: 3, line: /cannot (connect to|talk to) http:\/\/logstack-0\.logstack\.test:8000\/v1\/admin\/status/ },
  ];
  const api = await adminApi(t, {});
  for (const { name, answer, code, line } of cases) {
    api.network.use(http.get(`${SERVICE}/v1/admin/status`, answer, { once: true }));
    const result = await run('status');
    t.equal(result.code, code, `${name}: exit ${code}`);
    t.equal(result.stdout, '', `${name}: nothing on stdout`);
    t.match(result.stderr, /^logstack: [^\n]+\n$/, `${name}: one line`);
    t.match(result.stderr, line, name);
    t.notMatch(result.stderr, TOKEN, `${name}: no token`);
  }
});

t.test('a service that echoes the token back does not get it printed', async (t) => {
  await adminApi(t, { status: (request) => apiError(400, 'bad_request', `bad header: ${request.headers.get('authorization')}`) });
  const { code, stderr } = await run('status');
  t.equal(code, 8);
  t.notMatch(stderr, TOKEN);
  t.match(stderr, /bad header: Bearer \*\*\*\*/);
});

t.test('no answer within the bound is a timeout, exit 6', async (t) => {
  await adminApi(t, {
    status: () =>
      new Promise<Response>((resolve) => {
        // A mocked socket holds no handle of the event loop: this timer keeps the process up.
        const timer = setTimeout(() => resolve(HttpResponse.json(STATUS)), 30_000);
        t.teardown(() => clearTimeout(timer));
      }),
  });
  const { code, stderr } = await run('status', [], {}, { answerTimeoutMs: 300 });
  t.equal(code, 6);
  t.equal(stderr, `logstack: no answer from ${SERVICE}/v1/admin/status within 0.3 s\n`);
});

t.test('nothing listening is exit 3, naming the URL', async (t) => {
  // A refused connection is no answer: no msw here, a real socket is refused.
  const url = `http://127.0.0.1:${await freePort()}`;
  const { code, stdout, stderr } = await run('flush', ['--wait'], { LOGSTACK_URL: url });
  t.equal(code, 3);
  t.equal(stdout, '');
  t.match(stderr, new RegExp(`^logstack: flushing; waiting up to 30 s for delivery\\nlogstack: cannot connect to ${url}/v1/admin/flush: connection refused \\(is LogStack running there\\? --url or LOGSTACK_URL names it\\)\\n$`));
});

t.test('a port that speaks something other than HTTP is exit 7', async (t) => {
  const server = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n', () => socket.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const { code, stderr } = await run('status', [], { LOGSTACK_URL: url });
  t.equal(code, 7);
  t.equal(stderr, `logstack: ${url}/v1/admin/status answered something that is not HTTP: not LogStack's admin API\n`);
});

t.test('usage errors are exit 2, one line, and ask nothing of the service', async (t) => {
  const api = await adminApi(t, {});
  const cases: Array<[AdminCommand, string[], RegExp]> = [
    ['flush', ['--timeout', '30s'], /--timeout goes with --wait/],
    ['flush', ['--wait', '--timeout', 'soon'], /--timeout needs a duration such as 30s/],
    ['flush', ['--wait', '--timeout', '0s'], /--timeout needs a duration/],
    ['flush', ['--token', TOKEN], /unknown option --token for flush/],
    ['status', ['--wait'], /unknown option --wait for status/],
    ['status', ['extra'], /unexpected argument for status/],
    ['status', ['--url'], /--url needs a value/],
    ['status', ['--json=yes'], /--json takes no value/],
    ['dead-letters', ['--key', 'x'], /--key goes with --replay/],
  ];
  for (const [command, args, message] of cases) {
    const { code, stderr } = await run(command, args);
    t.equal(code, 2, `${command} ${args.join(' ')}`);
    t.match(stderr, /^logstack: [^\n]+ \(logstack [a-z-]+ --help\)\n$/);
    t.match(stderr, message);
    t.notMatch(stderr, TOKEN);
  }
  t.equal(api.seen.length, 0);
});

t.test('--help lists the options and the exit codes, and no token', async (t) => {
  const { code, stdout } = await run('status', ['--help']);
  t.equal(code, 0);
  t.match(stdout, /--token-file FILE/);
  t.match(stdout, /^ {3}6 {2}no answer in time/m);
  t.notMatch(stdout, TOKEN);
});
