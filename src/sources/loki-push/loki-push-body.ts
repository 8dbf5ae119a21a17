/**
 * How the Loki push endpoints read bodies: the content types and codings Loki takes, and
 * decompression that never holds more than `max_body_bytes` of output.
 *
 * Loki takes protobuf (`application/x-protobuf`, or no Content-Type) compressed with raw block
 * snappy, and JSON; either may also carry Content-Encoding gzip or deflate (Go's `flate`, raw
 * deflate; a zlib-wrapped body, what HTTP's `deflate` means, is read too), and protobuf may say
 * `snappy`, which some clients send. Anything else is refused with 415 before a byte is read.
 */
import { promisify } from 'node:util';
import { gunzip, inflate, inflateRaw, type ZlibOptions } from 'node:zlib';
import { uncompressSync } from 'snappy';
import { logstackError } from '../../errors.js';
import type { BodyLease } from '../../http/body-budget.js';
import { holdOrRefuse, serverBusy } from '../../http/body.js';
import { clientText } from '../../http/client-text.js';
import { freeBuffer } from '../../pipeline/freed-buffer.js';

export interface PushBodyFormat {
  readonly type: 'protobuf' | 'json';
  readonly coding: 'identity' | 'gzip' | 'deflate';
}

type Inflate = (buffer: Buffer, options: ZlibOptions) => Promise<Buffer>;
const inflaters: Readonly<Record<'gzip' | 'zlib' | 'raw', Inflate>> = {
  gzip: promisify(gunzip) as Inflate,
  zlib: promisify(inflate) as Inflate,
  raw: promisify(inflateRaw) as Inflate,
};

const PROTOBUF_TYPES: ReadonlySet<string> = new Set(['', 'application/x-protobuf', 'application/octet-stream']);

/** The body's format; throws 415 for a content type or coding Loki would not read. */
export function pushBodyFormat(contentType: string | undefined, contentEncoding: string | undefined): PushBodyFormat {
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  let type: PushBodyFormat['type'];
  if (mediaType === 'application/json') type = 'json';
  else if (PROTOBUF_TYPES.has(mediaType)) type = 'protobuf';
  else throw logstackError('LOKI_PUSH_UNSUPPORTED_MEDIA_TYPE', [clientText(contentType ?? '')]);

  const coding = (contentEncoding ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity' || (coding === 'snappy' && type === 'protobuf')) return { type, coding: 'identity' };
  if (coding === 'gzip' || coding === 'x-gzip') return { type, coding: 'gzip' };
  if (coding === 'deflate') return { type, coding: 'deflate' };
  const allowed = type === 'protobuf' ? 'none, snappy, gzip or deflate' : 'none, gzip or deflate';
  throw logstackError('LOKI_PUSH_UNSUPPORTED_ENCODING', [clientText(contentEncoding ?? ''), type === 'protobuf' ? 'protobuf' : 'JSON', allowed]);
}

/** RFC 1950: CM 8 (deflate) and a header checksum that makes CMF·256 + FLG a multiple of 31. */
function looksZlibWrapped(body: Buffer): boolean {
  return body.length >= 2 && (body[0]! & 0x0f) === 8 && ((body[0]! << 8) | body[1]!) % 31 === 0;
}

/** Inflates at most `maxBytes`, and at most what `lease` may still take; the output is taken from it. */
async function inflateBounded(body: Buffer, coding: 'gzip' | 'deflate', maxBytes: number, lease: BodyLease): Promise<Buffer> {
  // zlib refuses a limit of 0 as out of range, which would read as a corrupt stream: a 400, and a
  // Loki client drops the batch it should have retried.
  if (lease.available < 1) throw serverBusy();
  const budgetBound = lease.available < maxBytes;
  const output = await inflateWithin(body, coding, Math.min(maxBytes, lease.available), budgetBound ? serverBusy : () => logstackError('HTTP_BODY_TOO_LARGE', [maxBytes]));
  holdOrRefuse(lease, output.length);
  return output;
}

async function inflateWithin(body: Buffer, coding: 'gzip' | 'deflate', maxOutputLength: number, overLimit: () => Error): Promise<Buffer> {
  const options = { maxOutputLength };
  try {
    if (coding === 'gzip') return await inflaters.gzip(body, options);
    // Raw deflate can start with bytes that pass the zlib check; it is tried when zlib fails.
    if (looksZlibWrapped(body)) {
      try {
        return await inflaters.zlib(body, options);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw err;
      }
    }
    return await inflaters.raw(body, options);
  } catch (err) {
    // Inflation stops at the limit, so a gzip bomb costs at most max_body_bytes of memory.
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw overLimit();
    throw logstackError('LOKI_PUSH_UNDECODABLE', [`its ${coding} stream is corrupt or truncated`], { cause: err });
  }
}

/**
 * The uncompressed length a raw snappy block declares in its header (a varint of at most 32
 * bits), or -1 when the header is malformed. The decoder refuses a block whose output differs
 * from it, so it bounds what uncompressing allocates.
 */
export function snappyDeclaredLength(block: Buffer): number {
  let length = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const byte = block[i]!;
    length += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return length <= 0xffffffff ? length : -1;
  }
  return -1;
}

async function unsnappy(block: Buffer, maxBytes: number, lease: BodyLease): Promise<Buffer> {
  const declared = snappyDeclaredLength(block);
  if (declared < 0) throw logstackError('LOKI_PUSH_UNDECODABLE', ['it is not snappy-compressed (a raw snappy block starts with its length)']);
  // The snappy package has no streaming decoder for raw blocks: the declared length is the bound.
  if (declared > maxBytes) throw logstackError('HTTP_BODY_TOO_LARGE', [maxBytes]);
  holdOrRefuse(lease, declared);
  try {
    // copyOutputData: the addon's own buffers are memory V8 does not count, so it never hurries
    // to free them (see src/loki/push-request.ts); copied, they are ordinary V8 buffers.
    return uncompressSync(block, { asBuffer: true, copyOutputData: true }) as Buffer;
  } catch (err) {
    throw logstackError('LOKI_PUSH_UNDECODABLE', ['its snappy block is corrupt or truncated'], { cause: err });
  }
}

/**
 * The body as the decoder reads it: inflated per Content-Encoding, then, for protobuf,
 * snappy-uncompressed; at most `maxBytes` at every step, each step's output taken from `lease`.
 */
export async function decompressPushBody(body: Buffer, format: PushBodyFormat, maxBytes: number, lease: BodyLease): Promise<Buffer> {
  const inflated = format.coding === 'identity' ? body : await inflateBounded(body, format.coding, maxBytes, lease);
  if (format.type === 'json') return inflated;
  try {
    return await unsnappy(inflated, maxBytes, lease);
  } finally {
    // The caller frees `body`; the snappy block in between is this function's own.
    if (inflated !== body) freeBuffer(inflated);
  }
}
