import t from 'tap';
import { jsonParseCost } from '../../../src/http/json-parse-cost.js';
import { MESSAGE_BYTES, protobufCost } from '../../../src/sources/otlp/decode-cost.js';
import { requestFromJson } from '../../../src/sources/otlp/otlp-json.js';
import { ExportLogsServiceRequest } from '../../../src/sources/otlp/otlp-proto.js';
import { retainedBy } from '../../support/retained-heap.js';
import { exportRequest, field, kv, kvlist, protobufOf, record, str } from './otlp-helpers.js';

function repeat(bytes: Buffer, times: number): Buffer {
  return Buffer.concat(Array<Buffer>(times).fill(bytes));
}

const EMPTY = Buffer.alloc(0);
/** A LogRecord's bytes inside one resource and one scope. */
const inRecord = (recordBytes: Buffer): Buffer => field(1, field(2, field(2, recordBytes)));
/** Values inside a record's body: AnyValue { array_value = 5: ArrayValue { values = 1 } }. */
const inArray = (values: Buffer): Buffer => inRecord(field(5, field(5, values)));

t.test('the walk reads the wire as protobufjs does: messages and records counted, a known field of another wire type skipped as unknown', async (t) => {
  const body = protobufOf(exportRequest([record({ attributes: [kv('a', str('x')), kv('m', kvlist(kv('b', { intValue: '1' })))] }), record()]));
  const cost = protobufCost(body, 10);
  t.equal(cost.records, 2);
  t.ok(cost.bytes > 10 * MESSAGE_BYTES);
  // resource_logs (1) as a varint: protobufjs skips it as an unknown field, and so does the walk.
  const wrongWire = Buffer.from([0x08, 0x05, 0x0a, 0x00]);
  t.equal(ExportLogsServiceRequest.decode(wrongWire).toJSON().resourceLogs.length, 1);
  t.same(protobufCost(wrongWire, 10), { bytes: 2 * MESSAGE_BYTES, records: 0 });
  t.equal(protobufCost(inRecord(repeat(EMPTY, 0)), 10).records, 1);
  t.equal(protobufCost(field(1, field(2, repeat(field(2, EMPTY), 100_000))), 5).records, 6, 'counting stops one past the bound');
});

t.test('64-bit integers past 2^53 are walked as protobufjs reads them: a 19-digit intValue and a negative one', async (t) => {
  for (const intValue of ['6177503476599092000', '-1']) {
    const body = protobufOf(exportRequest([record({ attributes: [kv('n', { intValue })] })]));
    t.equal(protobufCost(body, 10).records, 1, intValue);
  }
});

t.test('what protobufjs would refuse is refused before it is decoded: truncation, field 0, groups, nesting past 100 messages', async (t) => {
  t.throws(() => protobufCost(Buffer.from([0x0a, 0x05, 0x12]), 10), RangeError, 'truncated');
  t.throws(() => protobufCost(Buffer.from([0x0a, 0x02, 0x12, 0x05]), 10), RangeError, 'a field past the end of its message');
  t.throws(() => protobufCost(Buffer.from([0x00, 0x00]), 10), RangeError, 'field number 0');
  t.throws(() => protobufCost(Buffer.from([0x0b, 0x0c]), 10), RangeError, 'a group');
  // AnyValue { kvlist_value = 6: KeyValueList { values = 1: KeyValue { value = 2: AnyValue } } }: three levels a step.
  const nested = (steps: number, innermost: Buffer): Buffer => {
    let value: Buffer = innermost;
    for (let i = 0; i < steps; i++) value = field(6, field(1, field(2, value)));
    return inRecord(field(5, value));
  };
  // The request is level 0, the record 3, its body 4: 32 steps end at level 100, the limit.
  const atLimit = nested(32, EMPTY);
  t.doesNotThrow(() => ExportLogsServiceRequest.decode(atLimit), 'protobufjs decodes 100 levels');
  t.doesNotThrow(() => protobufCost(atLimit, 10));
  // The innermost AnyValue holds an empty kvlist_value: level 101.
  const over = nested(32, field(6, EMPTY));
  t.throws(() => ExportLogsServiceRequest.decode(over), /max depth exceeded/, 'and refuses 101');
  t.throws(() => protobufCost(over, 10), /deeper than 100 levels/);
});

interface Shape {
  readonly body: Buffer;
  readonly decode: () => unknown;
  readonly charged: number;
}

t.test('decoding a hostile body retains less than it is charged, protobuf and JSON, and the multiple per decoded byte is bounded', async (t) => {
  const count = 100_000;
  const protobuf = (body: Buffer): Shape => ({ body, decode: () => ExportLogsServiceRequest.decode(body), charged: body.length + protobufCost(body, count).bytes });
  const json = (text: string): Shape => {
    const body = Buffer.from(text);
    let charged = body.length;
    const charge = (bytes: number) => void (charged += bytes);
    charge(jsonParseCost(body));
    requestFromJson(JSON.parse(text), count, charge);
    return {
      body,
      decode: () => {
        // What is alive at once while the request is decoded: the text, its JSON and its messages.
        const textOf = body.toString('utf8');
        const parsed: unknown = JSON.parse(textOf);
        return [textOf, parsed, requestFromJson(parsed, count, () => {})];
      },
      charged,
    };
  };
  const shapes: Record<string, Shape> = {
    'empty resources': protobuf(repeat(field(1, EMPTY), count)),
    'empty scopes': protobuf(field(1, repeat(field(2, EMPTY), count))),
    'empty attributes': protobuf(inRecord(repeat(field(6, EMPTY), count))),
    'empty array items': protobuf(inArray(repeat(field(1, EMPTY), count))),
    'one-character strings': protobuf(inArray(repeat(field(1, field(1, Buffer.from('x'))), count))),
    '64-bit integers': protobuf(inArray(repeat(field(1, Buffer.from([0x18, 0x01])), count))),
    'empty bytes values': protobuf(inArray(repeat(field(1, field(7, EMPTY)), count))),
    'record timestamps': protobuf(field(1, field(2, repeat(field(2, Buffer.from([0x09, 1, 0, 0, 0, 0, 0, 0, 1, 0x59, 1, 0, 0, 0, 0, 0, 0, 1])), count)))),
    'JSON empty resources': json(`{"resourceLogs":[${Array(count).fill('{}').join(',')}]}`),
    'JSON empty arrays, unknown': json(`{"x":[${Array(count).fill('[]').join(',')}]}`),
    'JSON members, unknown': json(`{${Array.from({ length: count }, (_, i) => `"k${i}":1.5`).join(',')}}`),
    'JSON 64-bit integers': json(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[${Array(count).fill('{"intValue":"1"}').join(',')}]}}}]}]}]}`),
    'JSON bytes values': json(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[${Array(count).fill('{"bytesValue":""}').join(',')}]}}}]}]}]}`),
  };
  for (const [name, shape] of Object.entries(shapes)) {
    const retained = retainedBy(shape.decode);
    t.ok(retained < shape.charged, `${name}: retains ${(retained / shape.body.length).toFixed(1)}× its size, charged ${(shape.charged / shape.body.length).toFixed(1)}×`);
    t.ok(shape.charged < 82 * shape.body.length, `${name}: charged at most 82× its size`);
  }
});
