import t from 'tap';
import { compileMaskingPolicy } from '../../../src/masking/policy.js';
import type { IngestEntry } from '../../../src/pipeline/types.js';
import { maskEntry } from '../../../src/sources/native/mask-entry.js';
import { testConfig } from '../../support/config.js';

const policy = compileMaskingPolicy(testConfig().masking);

function entry(message: string, metadata?: Record<string, unknown>): IngestEntry {
  const e: IngestEntry = { timestamp: '2025-09-24T12:00:00Z', level: 'INFO', message, service: 'api', env: 'prod' };
  if (metadata !== undefined) e.metadata = metadata;
  return e;
}

t.test('the message, service and env are masked as text; metadata by key', async (t) => {
  const out = maskEntry({ ...entry('paid with 4111 1111 1111 1111, password=hunter2', { password: 'x', note: 'ok' }), env: '4111-1111-1111-1111' }, policy);
  t.same(out, { timestamp: '2025-09-24T12:00:00Z', level: 'INFO', message: 'paid with ****1111, password=****', service: 'api', env: '****1111', metadata: { password: '****', note: 'ok' } });
});

t.test('a message that is a JSON object string is masked by key, in place', async (t) => {
  t.equal(maskEntry(entry('{"event":"login","password":"hunter2","user":{"api_key":"k"}}'), policy).message, '{"event":"login","password":"****","user":{"api_key":"****"}}');
  t.equal(maskEntry(entry('  {"ok": true, "n": 1}'), policy).message, '  {"ok": true, "n": 1}', 'nothing to mask: unchanged');
});

t.test('an entry without metadata has none after masking', async (t) => {
  t.notOk('metadata' in maskEntry(entry('hello'), policy));
});
