import t from 'tap';
import { createLogger } from '../../src/observability/logger.js';

function capture(level: 'info' | 'debug' = 'info') {
  const lines: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

t.test('JSON lines with the service name and an ISO time', async (t) => {
  const { logger, parsed } = capture();
  logger.info({ route: '/healthz' }, 'hello');
  t.match(parsed(), [{ level: 30, service: 'logstack', route: '/healthz', msg: 'hello', time: /^\d{4}-\d\d-\d\dT/ }]);
});

t.test('the level filters', async (t) => {
  const { logger, lines } = capture('info');
  logger.debug('quiet');
  t.equal(lines.length, 0);
  const verbose = capture('debug');
  verbose.logger.debug('loud');
  t.equal(verbose.lines.length, 1);
});

t.test('secrets are redacted wherever a careless call puts them', async (t) => {
  const { logger, lines, parsed } = capture();
  const secret = 'tok_secret_0123456789abcd';
  logger.info({ req: { headers: { authorization: `Bearer ${secret}`, 'user-agent': 'curl' } } }, 'request');
  logger.info({ headers: { authorization: `Bearer ${secret}` } }, 'headers');
  logger.info({ authorization: `Bearer ${secret}` }, 'bare');
  logger.info({ security: { admin_token: secret, api_keys: { [secret]: { name: 'app' } } } }, 'config');
  logger.info({ loki: { bearer_token: secret, basic_auth: { username: 'u', password: secret } } }, 'loki');
  logger.info({ token: secret, password: secret }, 'fields');
  t.equal(lines.length, 6);
  t.notOk(lines.join('').includes(secret), 'the secret is in no line');
  t.match(parsed()[0], { req: { headers: { authorization: '[redacted]', 'user-agent': 'curl' } } }, 'the rest stays');
  t.match(parsed()[3], { security: { admin_token: '[redacted]', api_keys: '[redacted]' } });
});
