/**
 * What decoding an OTLP request will allocate, worked out before it is paid, so that the body
 * budget (`limits.max_body_bytes_in_flight`) is charged first and a request that would not fit
 * is refused before a message exists. Records alone are not enough: a 5 KB gzip of 2.6 million
 * empty ResourceLogs decoded into 200 MB of objects without one record.
 *
 * The protobuf is walked on the wire, by the vendored definitions, field by field as
 * protobufjs' decoder will read it (a known field with another wire type is an unknown field,
 * skipped); the walk allocates nothing and refuses what protobufjs would refuse anyway
 * (truncation, field number 0, nesting past 100 messages) and groups, which OTLP never sends.
 * JSON is scanned for the values JSON.parse will make (json-parse-cost.ts, shared with the other
 * JSON ways in); what otlp-json.ts then makes of them (messages, 64-bit integers, bytes) it
 * charges value by value before making it.
 *
 * The weights are heap bytes on Node 24, measured with room to spare (test/sources/otlp/
 * decode-cost.test.ts checks each hostile shape's retained heap against its charge): a message
 * with its repeated fields' arrays 75-87, a Long 65-90, a Buffer over the body's bytes 130-145,
 * a JSON object 64, an array 40. With the body itself, one request is charged at most 81× its
 * decoded size (protobuf: an AnyValue of empty 2-byte `bytes` fields, each a Buffer) or 58×
 * (JSON: `{}` in a list of messages, the object and its message), and never more than the
 * whole budget.
 */
import protobuf from 'protobufjs';
import { STRING_BYTES } from '../../http/json-parse-cost.js';
import { ProtobufReader, WIRE_LEN, WIRE_VARINT } from '../../loki/protobuf-wire.js';
import { ExportLogsServiceRequest } from './otlp-proto.js';

/** A decoded message, its repeated fields' arrays and its place in its parent's. */
export const MESSAGE_BYTES = 96;
/** A 64-bit integer, decoded as a Long. */
export const LONG_BYTES = 96;
/** A `bytes` value: a Buffer object (protobuf: a view of the body; JSON: plus its bytes). */
export const BYTES_VALUE_BYTES = 160;
/** protobufjs' recursion limit (protoc's): the request is level 0. */
export const MAX_MESSAGE_DEPTH = 100;

type FieldCost = { readonly kind: 'message'; readonly wire: number; readonly message: MessageCost } | { readonly kind: 'string' | 'bytes' | 'long' | 'scalar'; readonly wire: number };

interface MessageCost {
  readonly fields: Map<number, FieldCost>;
  readonly isLogRecord: boolean;
}

const LONG_TYPES: ReadonlySet<string> = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const costs = new Map<protobuf.Type, MessageCost>();

function costOf(type: protobuf.Type): MessageCost {
  let cost = costs.get(type);
  if (cost !== undefined) return cost;
  cost = { fields: new Map(), isLogRecord: type.fullName === '.opentelemetry.proto.logs.v1.LogRecord' };
  costs.set(type, cost);
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    if (field.map || (field.repeated && !(resolved instanceof protobuf.Type))) throw new TypeError(`${type.fullName}.${field.name}: map and repeated scalar fields are not costed`);
    let entry: FieldCost;
    if (resolved instanceof protobuf.Type) entry = { kind: 'message', wire: WIRE_LEN, message: costOf(resolved) };
    else if (resolved instanceof protobuf.Enum) entry = { kind: 'scalar', wire: WIRE_VARINT };
    else if (field.type === 'string' || field.type === 'bytes') entry = { kind: field.type, wire: WIRE_LEN };
    else entry = { kind: LONG_TYPES.has(field.type) ? 'long' : 'scalar', wire: protobuf.types.basic[field.type as keyof typeof protobuf.types.basic] };
    cost.fields.set(field.id, entry);
  }
  return cost;
}

const REQUEST = costOf(ExportLogsServiceRequest);

export interface ProtobufCost {
  /** Heap bytes the decoded request will hold. */
  readonly bytes: number;
  /** Log records; counting stops at `maxRecords` + 1. */
  readonly records: number;
}

/**
 * The cost of decoding the binary ExportLogsServiceRequest in `body`. Throws RangeError for a
 * body protobufjs would not decode, or that nests messages deeper than it would.
 */
export function protobufCost(body: Buffer, maxRecords: number): ProtobufCost {
  const reader = new ProtobufReader(body);
  // The messages being walked, innermost last: where each ends, and its fields.
  const ends: number[] = [];
  const messages: MessageCost[] = [];
  let end = body.length;
  let message = REQUEST;
  let bytes = MESSAGE_BYTES;
  let records = 0;
  for (;;) {
    while (reader.pos >= end) {
      if (messages.length === 0) return { bytes, records };
      end = ends.pop()!;
      message = messages.pop()!;
    }
    const tag = reader.tag();
    const wire = tag & 7;
    const field = message.fields.get(tag >>> 3);
    if (field === undefined || field.wire !== wire) {
      reader.skip(wire);
    } else if (field.kind === 'message') {
      const [start, fieldEnd] = reader.lengthDelimited();
      if (fieldEnd > end) throw new RangeError('protobuf: length-delimited field runs past its message');
      if (messages.length === MAX_MESSAGE_DEPTH) throw new RangeError(`protobuf: messages nest deeper than ${MAX_MESSAGE_DEPTH} levels`);
      bytes += MESSAGE_BYTES;
      if (field.message.isLogRecord && ++records > maxRecords) return { bytes, records };
      ends.push(end);
      messages.push(message);
      reader.pos = start;
      end = fieldEnd;
      message = field.message;
    } else {
      const start = reader.pos;
      reader.skip(wire);
      if (field.kind === 'long') bytes += LONG_BYTES;
      else if (field.kind === 'bytes') bytes += BYTES_VALUE_BYTES;
      else if (field.kind === 'string' && reader.pos - start > 1) bytes += STRING_BYTES + 2 * (reader.pos - start);
    }
    if (reader.pos > end) throw new RangeError('protobuf: field runs past its message');
  }
}
