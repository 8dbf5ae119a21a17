import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { PayloadLabelsReader, decodeEntryPayload, encodeEntryPayload } from '../../src/loki/entry-codec.js';
import { formatLabels } from '../../src/loki/entry.js';

/** What UTF-8 makes of a string: lone surrogates become U+FFFD, everything else is kept. */
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

// Strings on both sides of the encoder's short-string path (64 units), ASCII and not, with
// lone surrogates: the bytes must be exactly what Buffer's own UTF-8 encoding writes.
const text = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 130 }),
  fc.string({ unit: 'grapheme', maxLength: 130 }),
  fc.string({ unit: 'binary', maxLength: 130 }),
);

t.test('a payload decodes to the entry it encoded, whatever the strings', async (t) => {
  const property = fc.property(
    text,
    text,
    fc.integer({ min: 0, max: 4_000_000_000 }),
    fc.integer({ min: 0, max: 999_999_999 }),
    fc.array(fc.tuple(text, text), { maxLength: 40 }),
    (service, line, seconds, nanos, metadata) => {
      const labels = formatLabels({ service, env: 'prod' });
      const decoded = decodeEntryPayload(encodeEntryPayload({ labels, line, seconds, nanos, structuredMetadata: metadata }));
      return isDeepStrictEqual(decoded, { labels: utf8(labels), line: utf8(line), seconds, nanos, structuredMetadata: metadata.map(([n, v]) => [utf8(n), utf8(v)]) });
    },
  );
  t.doesNotThrow(() => fc.assert(property, { numRuns: 300 }));
});

t.test('the labels reader gives each payload its own labels and where its entry starts', async (t) => {
  const a = formatLabels({ service: 'api' });
  const b = formatLabels({ service: 'apí' });
  const reader = new PayloadLabelsReader();
  for (const labels of [a, a, b, a, b, b]) {
    const payload = encodeEntryPayload({ labels, line: 'x', seconds: 1, nanos: 2, structuredMetadata: [] });
    t.equal(reader.read(payload), labels);
    t.equal(reader.entryStart, 1 + Buffer.byteLength(labels));
  }
});
