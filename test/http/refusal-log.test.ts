import t from 'tap';
import { REFUSAL_LOG_SHAPE } from '../../src/http/refusal-log.js';
import { APP_TOKEN, send, startServer } from '../support/http-server.js';

t.test('2,000 requests without a token write at most the bound and summaries; accepted requests are all logged', async (t) => {
  const server = await startServer(t, { config: { security: { api_keys: { [APP_TOKEN]: { name: 'app' } }, rate_limit_rps: 1000, rate_limit_burst: 1000 } } });
  const startedMs = Date.now();
  const entry = () => ({ timestamp: new Date().toISOString(), level: 'INFO', service: 'shop', env: 'prod', message: 'kept' });
  const ingest = () => ({ method: 'POST' as const, body: JSON.stringify({ entries: [entry()] }) });
  let accepted = 0;
  for (let round = 0; round < 40; round++) {
    const answers = await Promise.all([
      // 401: a refusal line and `request completed`; 404: `request completed`.
      ...Array.from({ length: 25 }, () => send(server, '/v1/logs:ingest', ingest())),
      ...Array.from({ length: 25 }, () => send(server, '/x')),
      send(server, '/v1/logs:ingest', { ...ingest(), token: APP_TOKEN }),
    ]);
    t.equal(answers.filter((a) => a.status === 401).length, 25);
    t.equal(answers.filter((a) => a.status === 404).length, 25);
    if (answers.at(-1)!.status === 202) accepted++;
  }
  const elapsedSeconds = (Date.now() - startedMs) / 1000;
  await server.app.close();

  const lines = server.logLines();
  const refusedLines = lines.filter((l) => l.event === 'auth_refused' || (l.msg === 'request completed' && (l.status === 401 || l.status === 404)));
  const summaries = lines.filter((l) => l.event === 'refusal_lines_suppressed');
  const suppressed = summaries.reduce((sum, l) => sum + (l.suppressed_lines as number), 0);
  const bound = 2 * (REFUSAL_LOG_SHAPE.burst + REFUSAL_LOG_SHAPE.perSecond * elapsedSeconds);
  t.ok(refusedLines.length <= bound, `${refusedLines.length} lines of refused requests in ${elapsedSeconds.toFixed(1)} s, at most ${bound.toFixed(0)}`);
  t.ok(summaries.length >= 1 && summaries.length <= 1 + elapsedSeconds / 10, `${summaries.length} summary lines`);
  t.match(summaries[0]!.msg, /^suppressed \d+ lines of refused requests in the last \d+ s$/);
  t.equal(refusedLines.length + suppressed, 1000 * 2 + 1000, 'every line of a refused request is written or counted');
  t.ok(refusedLines.filter((l) => l.event === 'auth_refused').every((l) => lines.some((c) => c.msg === 'request completed' && c.request_id === l.request_id)), 'a written refusal comes with its request completed');

  t.equal(accepted, 40);
  t.equal(lines.filter((l) => l.msg === 'request completed' && l.status === 202).length, 40, 'every accepted request is logged');
});

t.test('metrics count every refused request, logged or not', async (t) => {
  const server = await startServer(t);
  await Promise.all(Array.from({ length: 300 }, () => send(server, '/nope')));
  const metrics = (await send(server, '/metrics')).text;
  t.match(metrics, /^http_requests_total\{method="GET",route="unmatched",status="404"\} 300$/m);
  t.ok(server.logLines().filter((l) => l.status === 404).length < 300, 'fewer lines than requests');
});

t.test('a key sending as fast as it is refused with 503 writes at most the bound, and no stack', async (t) => {
  // Every append is under the disk reserve: 503 disk_reserve_reached, as server_busy would be.
  const server = await startServer(t, { diskReservePercent: 100, config: { security: { api_keys: { [APP_TOKEN]: { name: 'app' } }, rate_limit_rps: 1000, rate_limit_burst: 1000 } } });
  const startedMs = Date.now();
  const body = JSON.stringify({ entries: [{ timestamp: new Date().toISOString(), level: 'INFO', service: 'shop', env: 'prod', message: 'm' }] });
  for (let round = 0; round < 20; round++) {
    const answers = await Promise.all(Array.from({ length: 30 }, () => send(server, '/v1/logs:ingest', { method: 'POST', body, token: APP_TOKEN })));
    t.ok(answers.every((a) => a.status === 503), `round ${round}: 503`);
  }
  const elapsedSeconds = (Date.now() - startedMs) / 1000;
  await server.app.close();

  const lines = server.logLines().filter((l) => l.status === 503 || (l.err as { code?: string } | undefined)?.code === 'LOGSTACK_ERR_WAL_DISK_RESERVE');
  const bound = 2 * (REFUSAL_LOG_SHAPE.burst + REFUSAL_LOG_SHAPE.perSecond * elapsedSeconds);
  t.ok(lines.length <= bound, `${lines.length} lines for 600 refusals in ${elapsedSeconds.toFixed(1)} s, at most ${bound.toFixed(0)}`);
  t.ok(lines.length > 0, 'the first are written');
  t.notMatch(server.logText(), /"stack":"[^"]/, 'no stack trace is logged for them');
  t.ok(server.logLines().some((l) => l.event === 'refusal_lines_suppressed'), 'the rest are summed up');
});
