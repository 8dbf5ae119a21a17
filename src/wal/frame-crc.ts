/**
 * The CRC-32 of a frame: bytes 0–3 (its length) then bytes 8 to its end, zlib's CRC-32. Most
 * frames are small (an entry of a one-line log is some 50 bytes): for them the CRC is computed
 * here, with a table, because a call into zlib's native code costs more than the bytes it
 * checks — two calls a frame were a third of the time to frame 130,000 small entries. Larger
 * frames go to zlib.
 */
import { crc32 } from 'node:zlib';

/** Up to this many bytes, a CRC is computed in JavaScript. */
const SMALL_BYTES = 256;

const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function update(crc: number, buf: Buffer, start: number, end: number): number {
  let c = ~crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The CRC a frame stores at bytes 4–7: of bytes [offset, offset + 4) and [offset + 8, end). */
export function frameCrc(buf: Buffer, offset: number, end: number): number {
  if (end - offset <= SMALL_BYTES) return update(update(0, buf, offset, offset + 4), buf, offset + 8, end);
  return crc32(buf.subarray(offset + 8, end), update(0, buf, offset, offset + 4));
}
