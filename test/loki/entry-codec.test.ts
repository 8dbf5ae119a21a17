import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { appendEntry, decodeEntryAdapter, encodeEntry } from '../../src/loki/entry-codec.js';
import { formatLabels } from '../../src/loki/entry.js';
import { AppendBatchBuilder, entryOf } from '../../src/wal/append-batch.js';

/** What UTF-8 makes of a string: lone surrogates become U+FFFD, everything else is kept. */
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

// Strings on both sides of the encoder's short-string path (64 units), ASCII and not, with
// lone surrogates: the bytes must be exactly what Buffer's own UTF-8 encoding writes.
const text = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 130 }),
  fc.string({ unit: 'grapheme', maxLength: 130 }),
  fc.string({ unit: 'binary', maxLength: 130 }),
);

t.test('an entry decodes to what it encoded, whatever the strings', async (t) => {
  const property = fc.property(
    text,
    text,
    fc.integer({ min: 0, max: 4_000_000_000 }),
    fc.integer({ min: 0, max: 999_999_999 }),
    fc.array(fc.tuple(text, text), { maxLength: 40 }),
    (service, line, seconds, nanos, metadata) => {
      const labels = formatLabels({ service, env: 'prod' });
      const decoded = decodeEntryAdapter(encodeEntry({ labels, line, seconds, nanos, structuredMetadata: metadata }), labels);
      return isDeepStrictEqual(decoded, { labels: utf8(labels), line: utf8(line), seconds, nanos, structuredMetadata: metadata.map(([n, v]) => [utf8(n), utf8(v)]) });
    },
  );
  t.doesNotThrow(() => fc.assert(property, { numRuns: 300 }));
});

t.test('entries appended to a WAL batch are the bytes encodeEntry writes, each with its label set', async (t) => {
  const a = formatLabels({ service: 'api' });
  const b = formatLabels({ service: 'apí' });
  const builder = new AppendBatchBuilder();
  const items = [a, a, b, a, b, b].map((labels, i) => ({ labels, line: `line ${i} ✓`, seconds: 1_700_000_000 + i, nanos: i, structuredMetadata: [['k', `v${i}`]] as Array<[string, string]> }));
  for (const item of items) appendEntry(builder, item);
  const batch = builder.build();
  t.same(batch.labelSets, [a, b], 'each label set once');
  t.same(Array.from(batch.labelSetOf), [0, 0, 1, 0, 1, 1]);
  for (const [i, item] of items.entries()) t.same(entryOf(batch, i), encodeEntry(item), `entry ${i}`);
});
