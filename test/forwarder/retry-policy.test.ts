import t from 'tap';
import { MAX_RETRY_AFTER_MS, classifyAnswer, classifyTransportFailure, parseRetryAfter } from '../../src/forwarder/retry-policy.js';

const NOW = Date.parse('2025-09-24T12:00:00.000Z');

t.test('classifies each status the way the forwarder must act on it', async (t) => {
  const table: Array<[number, string, string?]> = [
    [200, 'success'],
    [204, 'success'],
    [201, 'retryable', 'unexpected_status'],
    [202, 'retryable', 'unexpected_status'],
    [260, 'retryable', 'unexpected_status'],
    [429, 'retryable', 'rate_limited'],
    [408, 'retryable', 'server_error'],
    [500, 'retryable', 'server_error'],
    [502, 'retryable', 'server_error'],
    [503, 'retryable', 'server_error'],
    [504, 'retryable', 'server_error'],
    [413, 'split'],
    [400, 'rejected'],
    [409, 'rejected'],
    [422, 'rejected'],
    [401, 'misconfigured'],
    [403, 'misconfigured'],
    [404, 'misconfigured'],
    [405, 'misconfigured'],
    [301, 'misconfigured'],
    [308, 'misconfigured'],
    [600, 'retryable', 'unexpected_status'],
  ];
  for (const [status, kind, reason] of table) {
    const outcome = classifyAnswer({ status, message: `m${status}` }, NOW);
    t.equal(outcome.kind, kind, `${status} → ${kind}`);
    if (reason !== undefined) t.match(outcome, { reason, status }, `${status} → ${reason}`);
  }
});

t.test("keeps Loki's message for dead letters and logs", async (t) => {
  const message = "entry for stream '{service=\"api\"}' has timestamp too old: 2020-01-01T00:00:00Z";
  t.same(classifyAnswer({ status: 400, message }, NOW), { kind: 'rejected', status: 400, message });
  t.same(classifyAnswer({ status: 413, message: 'too large' }, NOW), { kind: 'split', status: 413, message: 'too large' });
});

t.test('carries Retry-After on retryable answers only', async (t) => {
  t.same(classifyAnswer({ status: 429, message: 'slow down', retryAfter: '7' }, NOW), {
    kind: 'retryable',
    reason: 'rate_limited',
    status: 429,
    message: 'slow down',
    retryAfterMs: 7000,
  });
  t.equal(classifyAnswer({ status: 503, message: '', retryAfter: 'Wed, 24 Sep 2025 12:00:05 GMT' }, NOW).kind, 'retryable');
  t.match(classifyAnswer({ status: 503, message: '', retryAfter: 'Wed, 24 Sep 2025 12:00:05 GMT' }, NOW), { retryAfterMs: 5000 });
  t.notOk('retryAfterMs' in classifyAnswer({ status: 429, message: '' }, NOW), 'absent when the header is');
  t.same(classifyAnswer({ status: 400, message: 'bad', retryAfter: '5' }, NOW), { kind: 'rejected', status: 400, message: 'bad' });
});

t.test('parseRetryAfter reads delta-seconds and HTTP-dates, caps, and ignores junk', async (t) => {
  t.equal(parseRetryAfter('0', NOW), 0);
  t.equal(parseRetryAfter(' 12 ', NOW), 12_000);
  t.equal(parseRetryAfter('Wed, 24 Sep 2025 12:01:00 GMT', NOW), 60_000);
  t.equal(parseRetryAfter('Wed, 24 Sep 2025 11:00:00 GMT', NOW), 0, 'a date in the past means now');
  t.equal(parseRetryAfter('86400', NOW), MAX_RETRY_AFTER_MS, 'a day is capped');
  t.equal(parseRetryAfter('120', NOW, 60_000), 60_000, 'the cap is a parameter');
  for (const junk of [undefined, '', '-5', '1.5', 'soon', '10s']) t.equal(parseRetryAfter(junk, NOW), undefined, `${JSON.stringify(junk)} is ignored`);
});

t.test('a push without an HTTP answer is retryable, as timeout or network failure', async (t) => {
  t.same(classifyTransportFailure(true, 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error'), {
    kind: 'retryable',
    reason: 'timeout',
    status: null,
    message: 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error',
  });
  t.match(classifyTransportFailure(false, 'ECONNRESET'), { kind: 'retryable', reason: 'network', status: null });
});
