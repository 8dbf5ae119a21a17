import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import { frameCrc } from '../../src/wal/frame-crc.js';

t.test('a frame’s CRC is zlib’s CRC-32 of its length then its head and payload, for small and large frames', async (t) => {
  const property = fc.property(fc.uint8Array({ minLength: 8, maxLength: 1200 }), fc.nat(), (bytes, skew) => {
    const buf = Buffer.concat([Buffer.alloc(skew % 7), Buffer.from(bytes)]);
    const offset = skew % 7;
    const end = buf.length;
    return frameCrc(buf, offset, end) === crc32(buf.subarray(offset + 8, end), crc32(buf.subarray(offset, offset + 4)));
  });
  t.doesNotThrow(() => fc.assert(property, { numRuns: 500 }));
});
