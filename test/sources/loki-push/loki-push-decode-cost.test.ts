import t from 'tap';
import { HELD_PAIR_BYTES, metadataPairsCost } from '../../../src/sources/loki-push/loki-push-decode-cost.js';
import { decodeProtobufPush } from '../../../src/sources/loki-push/loki-push-decode.js';
import { protobufPush } from '../../hostile/harness.js';
import { retainedBy } from '../../support/retained-heap.js';

const BOUNDS = { maxEntries: 100_000, maxStreams: 100, maxMetadataPairs: 128 };

/** `entries` entries of `pairs` pairs each, in one stream. */
function push(entries: number, pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  return protobufPush([{ labels: '{job="a"}', entries: Array.from({ length: entries }, () => ({ seconds: 1, line: 'x', metadata: pairs })) }]);
}

t.test('each pair costs HELD_PAIR_BYTES and its bytes on the wire; nothing else of a push does', async (t) => {
  t.equal(metadataPairsCost(push(10, []), 128), 0, 'entries without pairs');
  // `0a 01 61 12 01 62`: name "a", value "b", in a pair of 6 bytes.
  t.equal(metadataPairsCost(push(10, [['a', 'b']]), 128), 10 * (HELD_PAIR_BYTES + 6));
  t.equal(metadataPairsCost(Buffer.alloc(0), 128), 0, 'an empty push');
});

t.test("an entry's pairs past the bound + 1 cost nothing: the decoder counts them without decoding", async (t) => {
  const pairs = Array.from({ length: 10 }, (_, i) => [`k${i}`, 'v'] as const);
  t.equal(metadataPairsCost(push(3, pairs), 2), 3 * 3 * (HELD_PAIR_BYTES + 7));
  t.equal(metadataPairsCost(push(3, pairs), 10), 3 * 10 * (HELD_PAIR_BYTES + 7));
});

t.test('what it cannot read is left to the decoder: the cost so far, no error', async (t) => {
  const whole = push(10, [['a', 'b']]);
  t.ok(metadataPairsCost(whole.subarray(0, whole.length - 3), 128) <= metadataPairsCost(whole, 128), 'truncated');
  t.equal(metadataPairsCost(Buffer.alloc(64), 128), 0, 'zeros: an illegal tag');
});

t.test('the cost is more than the heap the decoded pairs retain, for every shape of pair', async (t) => {
  const shapes: Record<string, ReadonlyArray<readonly [string, string]>> = {
    'empty pairs': Array.from({ length: 128 }, () => ['', ''] as const),
    'two-letter names': Array.from({ length: 128 }, (_, i) => [`${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`, ''] as const),
    'names of 32, values of 40': Array.from({ length: 128 }, (_, i) => [`n${i}`.padEnd(32, 'n'), 'v'.repeat(40)] as const),
    'names and values in Greek': Array.from({ length: 128 }, (_, i) => [`ονομα${i}`, 'τιμή'] as const),
  };
  for (const [name, pairs] of Object.entries(shapes)) {
    const body = push(500, pairs);
    const cost = metadataPairsCost(body, 128);
    const retained = retainedBy(() => decodeProtobufPush(body, BOUNDS));
    t.ok(retained < cost, `${name}: decoded, ${Math.round(retained / (500 * 128))} bytes a pair retained, ${Math.round(cost / (500 * 128))} charged`);
  }
});
