/**
 * What the structured metadata pairs of a protobuf push will hold once decoded, read off the
 * wire before one is decoded. Within every per-entry bound (128 pairs) a 5 MB push carries
 * millions of pairs of a few bytes each (`1a 00`, an empty pair, is two), and each decoded pair
 * is an array and two strings: 2.4 million empty pairs, 0.3 MB of snappy, held more than the
 * heap the StatefulSet ships. The body budget (`limits.max_body_bytes_in_flight`) is charged this
 * first, so a push that would not fit is refused having decoded nothing.
 *
 * The walk allocates a reader per stream and entry, no strings; what it cannot read (truncation,
 * a bad tag) it leaves to the decoder, which refuses it with the reason.
 */
import { ProtobufReader, tagByte, WIRE_LEN } from '../../loki/protobuf-wire.js';

/**
 * What a decoded structured metadata pair holds beyond its bytes on the wire: its array, its
 * slot in its entry's list and two string headers. Measured on Node 24 at 74 bytes for an
 * empty pair (2 bytes on the wire), 98 for `["aa", ""]` (6) and 178 for a name of 32 and a
 * value of 40 characters (76).
 */
export const HELD_PAIR_BYTES = 112;

const STREAM = tagByte(1, WIRE_LEN);
const ENTRY = tagByte(2, WIRE_LEN);
const PAIR = tagByte(3, WIRE_LEN);

/**
 * Bytes the pairs of `bytes` (a `logproto.PushRequest`) will hold decoded: HELD_PAIR_BYTES and
 * the pair's own bytes each, for as many of an entry's pairs as the decoder decodes (the bound
 * + 1; the rest are counted, not decoded).
 */
export function metadataPairsCost(bytes: Buffer, maxMetadataPairs: number): number {
  let cost = 0;
  try {
    const push = new ProtobufReader(bytes);
    while (!push.done) {
      const tag = push.tag();
      if (tag !== STREAM) {
        push.skip(tag & 7);
        continue;
      }
      const [streamStart, streamEnd] = push.lengthDelimited();
      const stream = new ProtobufReader(bytes, streamStart, streamEnd);
      while (!stream.done) {
        const streamTag = stream.tag();
        if (streamTag !== ENTRY) {
          stream.skip(streamTag & 7);
          continue;
        }
        const [entryStart, entryEnd] = stream.lengthDelimited();
        const entry = new ProtobufReader(bytes, entryStart, entryEnd);
        // Past the bound + 1 nothing more of the entry is decoded, so nothing more is read here.
        let pairs = 0;
        while (!entry.done && pairs <= maxMetadataPairs) {
          const entryTag = entry.tag();
          if (entryTag === PAIR) {
            pairs++;
            const [pairStart, pairEnd] = entry.lengthDelimited();
            cost += HELD_PAIR_BYTES + pairEnd - pairStart;
          } else {
            entry.skip(entryTag & 7);
          }
        }
      }
    }
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
  }
  return cost;
}
