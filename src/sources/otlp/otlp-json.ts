/**
 * OTLP's JSON encoding, read into the same messages protobufjs' binary decoder makes, the way
 * the Collector's pdata reads it (and Loki's OTLP endpoint with it): keys in lowerCamelCase or
 * as the proto's snake_case field names (`resourceLogs` or `resource_logs`; pdata takes both),
 * trace and span ids in hex, other bytes in base64, 64-bit integers as numbers or decimal
 * strings, enums as numbers or names, `null` as absent, unknown keys skipped.
 *
 * Every value must have its field's type. protobufjs' `fromObject` coerces instead: an array or
 * an object given for bytes became a record's `traceId`, and the mapping then failed with a 500
 * whose log line quoted the value. Here a wrong type is a 400 that says where it is, never what
 * it is: a value is client data, and may be a card number.
 *
 * Messages nest at most 100 deep, the binary decoder's limit (protoc's): the walk recurses once
 * per level, so that bound is also its stack's. What it makes (a message, a Long, a Buffer) is
 * charged to the request's body budget before it is made (decode-cost.ts).
 */
import protobuf from 'protobufjs';
import { logstackError } from '../../errors.js';
import { BYTES_VALUE_BYTES, LONG_BYTES, MAX_MESSAGE_DEPTH, MESSAGE_BYTES } from './decode-cost.js';
import { ExportLogsServiceRequest, type ExportLogsRequest, type Int64 } from './otlp-proto.js';

/** Bytes fields OTLP's JSON spells in hex, not base64 (OTLP specification, JSON Protobuf Encoding). */
const HEX_FIELDS: ReadonlySet<string> = new Set(['traceId', 'spanId']);
const LOG_RECORD = 'opentelemetry.proto.logs.v1.LogRecord';

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const UINT32_MAX = 2n ** 32n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** 20 digits and a sign hold every 64-bit integer; longer text is refused before BigInt parses it. */
const DECIMAL = /^-?\d{1,20}$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DECIMAL_FLOAT = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

type Scalar = 'string' | 'bytes' | 'hex' | 'int64' | 'uint64' | 'int32' | 'uint32' | 'double' | 'bool' | 'enum';

interface FieldReader {
  /** The message's property, protobufjs' name (lowerCamelCase). */
  readonly name: string;
  readonly repeated: boolean;
  readonly kind: Scalar | MessageReader;
  /** For an enum: its values by name. */
  readonly values?: Readonly<Record<string, number>>;
  /** The oneof this field is a member of, whose virtual property names the member set. */
  readonly oneof?: string;
}

interface MessageReader {
  readonly type: protobuf.Type;
  /** By JSON key: each field under both of its spellings. */
  readonly fields: Map<string, FieldReader>;
  readonly isLogRecord: boolean;
}

const INTEGER_KINDS: Readonly<Record<string, Scalar>> = {
  int64: 'int64',
  sint64: 'int64',
  sfixed64: 'int64',
  uint64: 'uint64',
  fixed64: 'uint64',
  int32: 'int32',
  sint32: 'int32',
  sfixed32: 'int32',
  uint32: 'uint32',
  fixed32: 'uint32',
};

/**
 * The proto's own name of a field protobufjs knows in lowerCamelCase: `timeUnixNano` →
 * `time_unix_nano`. OTLP's field names are lowercase words joined by `_`, so the two map one to
 * one; a name that does not come back the same is a programmer error.
 */
function snakeCase(name: string): string {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  if (protobuf.util.camelCase(snake) !== name) throw new TypeError(`field ${name} has no snake_case spelling`);
  return snake;
}

const readers = new Map<protobuf.Type, MessageReader>();

function readerOf(type: protobuf.Type): MessageReader {
  let reader = readers.get(type);
  if (reader !== undefined) return reader;
  reader = { type, fields: new Map(), isLogRecord: type.fullName === `.${LOG_RECORD}` };
  // Before its fields: messages are recursive (AnyValue holds an ArrayValue of AnyValues).
  readers.set(type, reader);
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    let kind: FieldReader['kind'];
    let values: Record<string, number> | undefined;
    if (resolved instanceof protobuf.Type) kind = readerOf(resolved);
    else if (resolved instanceof protobuf.Enum) {
      kind = 'enum';
      values = resolved.values;
    } else if (field.type === 'bytes') kind = HEX_FIELDS.has(field.name) ? 'hex' : 'bytes';
    else if (field.type === 'string' || field.type === 'bool') kind = field.type;
    else if (field.type === 'double' || field.type === 'float') kind = 'double';
    else if (INTEGER_KINDS[field.type] !== undefined) kind = INTEGER_KINDS[field.type]!;
    else throw new TypeError(`${type.fullName}.${field.name}: protobuf type ${field.type} is not read from JSON`);
    if (field.map) throw new TypeError(`${type.fullName}.${field.name}: map fields are not read from JSON`);
    const oneof = field.partOf?.name;
    const fieldReader: FieldReader = { name: field.name, repeated: field.repeated, kind, ...(values === undefined ? {} : { values }), ...(oneof === undefined ? {} : { oneof }) };
    reader.fields.set(field.name, fieldReader);
    reader.fields.set(snakeCase(field.name), fieldReader);
  }
  return reader;
}

const REQUEST = readerOf(ExportLogsServiceRequest);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON number that is an integer, or the same in a decimal string, within [min, max]; else null. */
function integer(json: unknown, min: bigint, max: bigint): bigint | null {
  let value: bigint | null = null;
  if (typeof json === 'number' && Number.isInteger(json)) value = BigInt(json);
  else if (typeof json === 'string' && DECIMAL.test(json)) value = BigInt(json);
  return value !== null && value >= min && value <= max ? value : null;
}

function undecodable(reason: string): Error {
  return logstackError('OTLP_UNDECODABLE', [reason]);
}

/** A 64-bit integer as protobufjs' decoder gives it: a Long. */
function longOf(value: bigint, unsigned: boolean): Int64 {
  const bits = BigInt.asUintN(64, value);
  return new protobuf.util.LongBits(Number(bits & 0xffffffffn), Number(bits >> 32n)).toLong(unsigned);
}

/** Counts `bytes` against the request's budget before they are allocated; throws when they do not fit. */
export type Charge = (bytes: number) => void;

class JsonReader {
  readonly #maxRecords: number;
  readonly #charge: Charge;
  records = 0;
  /** Where the walk is: keys and indexes from the root, for messages only. */
  readonly #path: Array<string | number> = [];

  constructor(maxRecords: number, charge: Charge) {
    this.#maxRecords = maxRecords;
    this.#charge = charge;
  }

  #where(): string {
    let out = '';
    for (const step of this.#path) out += typeof step === 'number' ? `[${step}]` : out === '' ? step : `.${step}`;
    return out === '' ? 'the body' : out;
  }

  #wrong(what: string): Error {
    return undecodable(`${this.#where()} must be ${what}`);
  }

  message(reader: MessageReader, json: unknown, depth: number): protobuf.Message {
    if (!isObject(json)) throw this.#wrong('an object');
    if (depth > MAX_MESSAGE_DEPTH) throw undecodable(`${this.#where()} nests messages deeper than ${MAX_MESSAGE_DEPTH} levels`);
    if (reader.isLogRecord && ++this.records > this.#maxRecords) throw logstackError('OTLP_TOO_MANY_RECORDS', [this.#maxRecords]);
    this.#charge(MESSAGE_BYTES);
    const message = new reader.type.ctor() as unknown as Record<string, unknown>;
    for (const key in json) {
      const field = reader.fields.get(key);
      const value = json[key];
      // Unknown keys are skipped, as receivers must; null is a field left out.
      if (field === undefined || value === null) continue;
      this.#path.push(field.name);
      message[field.name] = field.repeated ? this.#list(field, value, depth) : this.#value(field, value, depth);
      if (field.oneof !== undefined) message[field.oneof] = field.name;
      this.#path.pop();
    }
    return message as unknown as protobuf.Message;
  }

  #list(field: FieldReader, json: unknown, depth: number): unknown[] {
    if (!Array.isArray(json)) throw this.#wrong('a list');
    const out: unknown[] = [];
    for (let i = 0; i < json.length; i++) {
      this.#path.push(i);
      out.push(this.#value(field, json[i], depth));
      this.#path.pop();
    }
    return out;
  }

  #value(field: FieldReader, json: unknown, depth: number): unknown {
    const kind = field.kind;
    if (typeof kind !== 'string') return this.message(kind, json, depth + 1);
    switch (kind) {
      case 'string':
        if (typeof json !== 'string') throw this.#wrong('a string');
        return json;
      case 'bool':
        if (typeof json !== 'boolean') throw this.#wrong('true or false');
        return json;
      case 'hex':
        if (typeof json !== 'string' || !HEX.test(json)) throw this.#wrong('a string of hex digits');
        this.#charge(BYTES_VALUE_BYTES + json.length);
        return Buffer.from(json, 'hex');
      case 'bytes':
        if (typeof json !== 'string' || !BASE64.test(json)) throw this.#wrong('a base64 string');
        this.#charge(BYTES_VALUE_BYTES + json.length);
        return Buffer.from(json, 'base64');
      case 'int64':
      case 'uint64': {
        const value = kind === 'int64' ? integer(json, INT64_MIN, INT64_MAX) : integer(json, 0n, UINT64_MAX);
        if (value === null) throw this.#wrong(`${kind === 'int64' ? 'a signed' : 'an unsigned'} 64-bit integer (a number or a decimal string)`);
        this.#charge(LONG_BYTES);
        return longOf(value, kind === 'uint64');
      }
      case 'int32':
      case 'uint32': {
        const value = kind === 'int32' ? integer(json, INT32_MIN, INT32_MAX) : integer(json, 0n, UINT32_MAX);
        if (value === null) throw this.#wrong(`${kind === 'int32' ? 'a signed' : 'an unsigned'} 32-bit integer (a number or a decimal string)`);
        return Number(value);
      }
      case 'double':
        return this.#double(json);
      case 'enum': {
        if (typeof json === 'string' && Object.hasOwn(field.values!, json)) return field.values![json];
        const value = integer(json, INT32_MIN, INT32_MAX);
        if (value === null) throw this.#wrong('one of its enum names, or a 32-bit integer');
        return Number(value);
      }
    }
  }

  /** A JSON number, or a decimal, `NaN`, `Infinity` or `-Infinity` string (proto3's JSON). */
  #double(json: unknown): number {
    if (typeof json === 'number') return json;
    if (typeof json === 'string' && (json === 'NaN' || json === 'Infinity' || json === '-Infinity' || DECIMAL_FLOAT.test(json))) return Number(json);
    throw this.#wrong('a number');
  }
}

export interface JsonRequest {
  readonly request: ExportLogsRequest;
  readonly records: number;
}

/**
 * The ExportLogsServiceRequest of parsed OTLP JSON, each allocation charged first. Throws
 * OTLP_UNDECODABLE (400) naming where a value is wrong, OTLP_TOO_MANY_RECORDS (413) at
 * `maxRecords` + 1 records, or what `charge` throws.
 */
export function requestFromJson(json: unknown, maxRecords: number, charge: Charge): JsonRequest {
  const reader = new JsonReader(maxRecords, charge);
  const request = reader.message(REQUEST, json, 0) as unknown as ExportLogsRequest;
  return { request, records: reader.records };
}
