import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';
import t from 'tap';
import { createBodyBudget } from '../../../src/http/body-budget.js';
import { decompressPushBody, type PushBodyFormat } from '../../../src/sources/loki-push/loki-push-body.js';

const json = Buffer.from(JSON.stringify({ streams: [{ stream: { app: 'shop' }, values: [['1700000000000000000', 'hello']] }] }));
const MAX_BYTES = 1 << 20;

/**
 * A lease that has taken the body as sent, as the route's reading counts it, with `room` bytes
 * of the budget left: other requests hold the rest.
 */
function leaseAfter(body: Buffer, room: number) {
  const budget = createBodyBudget(MAX_BYTES, MAX_BYTES);
  if (!budget.lease('others').take(MAX_BYTES - body.length - room)) throw new Error('the others do not fit');
  const lease = budget.lease('shop');
  if (!lease.take(body.length)) throw new Error('the body does not fit its budget');
  return lease;
}

t.test('a compressed push with nothing of the budget left is 503 server_busy, which a Loki client retries, never 400, which it drops', async (t) => {
  const cases: Array<[string, Buffer, PushBodyFormat]> = [
    ['gzip', gzipSync(json), { type: 'json', coding: 'gzip' }],
    ['deflate (zlib)', deflateSync(json), { type: 'json', coding: 'deflate' }],
    ['deflate (raw)', deflateRawSync(json), { type: 'json', coding: 'deflate' }],
    ['snappy', compressSync(json), { type: 'protobuf', coding: 'identity' }],
  ];
  for (const [what, body, format] of cases) {
    const full = leaseAfter(body, 0);
    t.equal(full.available, 0, `${what}: the budget is exactly full`);
    await t.rejects(decompressPushBody(body, format, MAX_BYTES, full), { code: 'LOGSTACK_ERR_HTTP_BUSY', status: 503 }, `${what}: 503`);
    t.equal(full.held, body.length, `${what}: nothing more is held`);

    const roomy = leaseAfter(body, json.length);
    t.same(await decompressPushBody(body, format, MAX_BYTES, roomy), json, `${what}: with room for what it inflates to, it is read`);
  }
});
