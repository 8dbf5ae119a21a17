/**
 * What `JSON.parse` will hold for a JSON body, worked out from its bytes before it is parsed,
 * so that every JSON way in (`/v1/logs:ingest`, Loki's JSON and legacy JSON push, OTLP JSON)
 * charges it to the body budget (`limits.max_body_bytes_in_flight`) first. A body's bytes are
 * not enough: 5 MB of `{}` parses into 1.7 million objects, well over 100 MB of heap.
 *
 * The weights are heap bytes on Node 24, measured with room to spare
 * (test/http/json-parse-cost.test.ts checks each shape's retained heap against its charge): an
 * object or an array 64, a member 32 (an object of thousands of members is a hash table), an
 * element's slot 8, a number 16, a string its header and its characters, one byte each while
 * they are ASCII (V8 keeps a string that fits in Latin-1 one byte a character), else two. With
 * the body and its text, `{}` in a list is charged 26× its bytes, the most of any shape;
 * ordinary log bodies 5-8×.
 */

/** A string's header; its characters cost one byte each, two when it may not fit in one. */
export const STRING_BYTES = 24;
const CONTAINER_BYTES = 64;
const NUMBER_BYTES = 16;
const MEMBER_BYTES = 32;
const ELEMENT_BYTES = 8;

/**
 * What JSON.parse will hold for the JSON in `body`, and the text it reads: an upper bound from
 * one pass over the bytes, allocating nothing. Malformed JSON is JSON.parse's to refuse.
 */
export function jsonParseCost(body: Buffer): number {
  let bytes = 0;
  let inString = false;
  let escaped = false;
  let stringStart = 0;
  // Whether the string read now may need two bytes a character: a non-ASCII byte or a \u escape.
  let wide = false;
  let wideText = false;
  let inNumber = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (escaped) {
        escaped = false;
        if (c === 0x75) wide = true;
      } else if (c === 0x5c) escaped = true;
      else if (c === 0x22) {
        inString = false;
        bytes += STRING_BYTES + (wide ? 2 : 1) * (i - stringStart);
      } else if (c >= 0x80) wide = wideText = true;
      continue;
    }
    const digit = c >= 0x30 && c <= 0x39;
    // A number goes on through its point, exponent and signs: one value.
    if (inNumber) inNumber = digit || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
    else if (digit || c === 0x2d) {
      inNumber = true;
      bytes += NUMBER_BYTES;
    }
    if (c === 0x7b || c === 0x5b) bytes += CONTAINER_BYTES;
    else if (c === 0x3a) bytes += MEMBER_BYTES;
    else if (c === 0x2c) bytes += ELEMENT_BYTES;
    else if (c === 0x22) {
      inString = true;
      wide = false;
      stringStart = i + 1;
    } else if (c >= 0x80) wideText = true;
  }
  // The text, decoded: no more characters than bytes.
  return bytes + (wideText ? 2 : 1) * body.length;
}
