import { http, HttpResponse } from 'msw';
import t from 'tap';
import { createAdminClient, MAX_ANSWER_BYTES } from '../../src/cli/admin-client.js';
import { AdminFailure } from '../../src/cli/admin-failure.js';
import { mockNetwork } from '../support/mock-network.js';

const SERVICE = 'http://logstack.test:8000';
const BOUND = 1_000;

/** A status answer of exactly `bytes` bytes of JSON. */
function statusOf(bytes: number): string {
  const empty = JSON.stringify({ version: '1', tokens: {}, pad: '' });
  return JSON.stringify({ version: '1', tokens: {}, pad: 'x'.repeat(bytes - empty.length) });
}

/** The same text without a Content-Length: sent in chunks, counted as it comes. */
function streamed(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 256) controller.enqueue(bytes.subarray(i, i + 256));
      controller.close();
    },
  });
}

t.test(`an answer is read up to its bound (${MAX_ANSWER_BYTES} bytes by default) and not a byte more`, async (t) => {
  const network = await mockNetwork(t);
  const client = createAdminClient({ url: SERVICE, token: 'adm_0123456789abcdef01', tokenSource: 'test', maxAnswerBytes: BOUND });
  t.teardown(() => client.close());
  const cases = [
    { name: 'with Content-Length', refused: /answered 1001 bytes, more than 1000/, answer: (bytes: number) => new HttpResponse(statusOf(bytes), { headers: { 'content-type': 'application/json', 'content-length': String(bytes) } }) },
    { name: 'streamed', refused: /answered more than 1000 bytes/, answer: (bytes: number) => new HttpResponse(streamed(statusOf(bytes)), { headers: { 'content-type': 'application/json' } }) },
  ];
  for (const { name, refused, answer } of cases) {
    network.use(http.get(`${SERVICE}/v1/admin/status`, () => answer(BOUND), { once: true }));
    t.match(await client.status(), { version: '1' }, `${name}: ${BOUND} bytes are read`);
    network.use(http.get(`${SERVICE}/v1/admin/status`, () => answer(BOUND + 1), { once: true }));
    const err = await client.status().then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof AdminFailure, `${name}: ${BOUND + 1} bytes fail`);
    t.match(err, { kind: 'bad_answer', exitCode: 7, message: refused });
  }
});
