/**
 * Protocol Buffers wire format, just what Loki's push messages need: varints and
 * length-delimited fields. Hand-written because the push path splices pre-encoded entries
 * into a request; a generated codec would decode and re-encode every entry.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes `value` (a non-negative safe integer) at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

export function tagByte(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Size of a length-delimited field with a one-byte tag (fields 1–15). */
export function lenFieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

export class ProtobufReader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('protobuf: truncated varint');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(result)) throw new RangeError('protobuf: varint beyond 2^53');
        return result;
      }
      multiplier *= 128;
    }
    throw new RangeError('protobuf: varint longer than 10 bytes');
  }

  /**
   * A field's tag: its number in the high bits, its wire type in the low three. Field number 0
   * is no field (a body of zeros would otherwise read as an endless run of empty fields), and
   * Go's decoder, Loki's, refuses it as an illegal tag; so does this one.
   */
  tag(): number {
    const tag = this.varint();
    if (tag < 8 || tag > 0xffffffff) throw new RangeError(`protobuf: illegal tag ${tag} (field number ${Math.floor(tag / 8)})`);
    return tag;
  }

  /** Returns [start, end) of a length-delimited field's bytes and moves past it. */
  lengthDelimited(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw new RangeError('protobuf: length-delimited field runs past its message');
    this.pos = end;
    return [start, end];
  }

  string(): string {
    const [start, end] = this.lengthDelimited();
    return this.buf.toString('utf8', start, end);
  }

  /** Moves past a varint of any 64-bit value: one that is skipped is never read as a number. */
  skipVarint(): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('protobuf: truncated varint');
      if (this.buf[this.pos++]! < 0x80) return;
    }
    throw new RangeError('protobuf: varint longer than 10 bytes');
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.skipVarint();
        return;
      case WIRE_I64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`protobuf: unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new RangeError('protobuf: field runs past its message');
  }
}
