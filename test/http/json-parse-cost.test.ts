import { readFileSync } from 'node:fs';
import t from 'tap';
import { jsonParseCost } from '../../src/http/json-parse-cost.js';
import { retainedBy } from '../support/retained-heap.js';

/** The heap the text of `body` and its parse retain. */
function retainedByParse(body: Buffer): number {
  return retainedBy(() => {
    const text = body.toString('utf8');
    return [text, JSON.parse(text) as unknown];
  });
}

const COUNT = 100_000;
const list = (item: (i: number) => string) => Buffer.from(`[${Array.from({ length: COUNT }, (_, i) => item(i)).join(',')}]`);
const nowNs = `${Date.now()}000000`;

/** The attacker's shapes, each value kind alone, and what services send. */
const shapes: Record<string, Buffer> = {
  'empty objects': list(() => '{}'),
  'empty arrays': list(() => '[]'),
  'members of empty strings': Buffer.from(`{${Array.from({ length: COUNT }, (_, i) => `"${i.toString(36)}":""`).join(',')}}`),
  'members of numbers': Buffer.from(`{${Array.from({ length: COUNT }, (_, i) => `"k${i}":1.5`).join(',')}}`),
  integers: list((i) => String(i)),
  'fractional numbers': list((i) => `${i}.5`),
  'ASCII strings': list((i) => `"s${i}"`),
  'non-ASCII strings': list((i) => `"é${i}中"`),
  'ASCII strings with a \\u escape': list((i) => `"\\u4e2d${i}"`),
  'one long non-ASCII string': Buffer.from(JSON.stringify(['日本語のログ'.repeat(COUNT)])),
  'an ingest batch': Buffer.from(JSON.stringify({ entries: Array.from({ length: 1000 }, (_, i) => ({ timestamp: new Date().toISOString(), level: 'INFO', message: `order ${i} created`, service: 'shop', env: 'prod', metadata: { order_id: `O-${i}`, amount: i, region: 'eu-west-1' } })) })),
  'a Loki push of short lines': Buffer.from(JSON.stringify({ streams: [{ stream: { app: 'shop' }, values: Array.from({ length: COUNT / 10 }, (_, i) => [nowNs, `GET /api/v1/orders/${i} 200 12ms user=alice`, { trace_id: 'abcdef0123456789abcdef0123456789' }]) }] })),
};

t.test('parsing retains less than it is charged, for every kind of value; at most 26× the body with the body itself', async (t) => {
  for (const [name, body] of Object.entries(shapes)) {
    const charged = body.length + jsonParseCost(body);
    const retained = retainedByParse(body);
    t.ok(retained < charged, `${name}: retains ${(retained / body.length).toFixed(1)}× its size, charged ${(charged / body.length).toFixed(1)}×`);
    t.ok(charged < 26.1 * body.length, `${name}: charged at most 26× its size`);
  }
});

t.test('ordinary bodies are charged a few times their size, not the worst case', async (t) => {
  const sample = readFileSync(new URL('../fixtures/samples/ingest-100.json', import.meta.url));
  for (const [name, body] of [['the ingest sample', sample], ['an ingest batch', shapes['an ingest batch']!], ['a Loki push of short lines', shapes['a Loki push of short lines']!]] as const) {
    const charged = body.length + jsonParseCost(body);
    t.ok(charged < 8 * body.length, `${name}: ${(charged / body.length).toFixed(1)}×`);
  }
});

t.test('what the scan counts: each value, member and element once, strings by their characters, inside strings nothing', async (t) => {
  const cost = (text: string) => jsonParseCost(Buffer.from(text));
  const text = (body: string) => Buffer.byteLength(body);
  t.equal(cost('{}'), 64 + text('{}'));
  t.equal(cost('[1,-2.5e3]'), 64 + 2 * 16 + 8 + text('[1,-2.5e3]'), 'a number is one value, its sign, point and exponent included');
  t.equal(cost('{"ab":"cde"}'), 64 + 32 + (24 + 2) + (24 + 3) + text('{"ab":"cde"}'));
  t.equal(cost('"{[:,1]}"'), 24 + 7 + text('"{[:,1]}"'), 'structure inside a string is text');
  t.equal(cost('"a\\"{"'), 24 + 4 + text('"a\\"{"'), 'an escaped quote does not end the string');
  t.equal(cost('"\\u00e9"'), 24 + 2 * 6 + text('"\\u00e9"'), 'a \\u escape may make a two-byte string');
  const wide = '"é"';
  t.equal(cost(wide), 24 + 2 * 2 + 2 * text(wide), 'a non-ASCII byte: two bytes a character, for the string and the text');
  t.equal(cost(''), 0);
});
