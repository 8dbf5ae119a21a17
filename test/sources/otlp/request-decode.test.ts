import t from 'tap';
import { isLogstackError } from '../../../src/errors.js';
import { jsonParseCost } from '../../../src/http/json-parse-cost.js';
import { LONG_BYTES, MESSAGE_BYTES, protobufCost } from '../../../src/sources/otlp/decode-cost.js';
import { decodeOtlpRequest } from '../../../src/sources/otlp/request-decode.js';
import { field } from './otlp-helpers.js';

/** One resource, one scope, these log records (each already a LogRecord's bytes). */
function request(records: readonly Buffer[]): Buffer {
  return field(1, field(2, Buffer.concat(records.map((r) => field(2, r)))));
}

const EMPTY = Buffer.alloc(0);
const free = (): void => {};

t.test('a body of a bound and one more record: decoded, then refused with 413 before decoding', async (t) => {
  t.equal(decodeOtlpRequest(request([EMPTY, EMPTY]), 'protobuf', 2, free).records, 2);
  const err = (() => {
    try {
      decodeOtlpRequest(request([EMPTY, EMPTY, EMPTY]), 'protobuf', 2, free);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isLogstackError(err, 'OTLP_TOO_MANY_RECORDS'));
});

t.test("OTLP JSON: hex ids become bytes; what is not OTLP's JSON is undecodable", async (t) => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const decoded = decodeOtlpRequest(json({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '' }] }] }] }), 'json', 10, free);
  const record = decoded.request.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
  t.equal(Buffer.from(record.traceId).toString('hex'), '0af7651916cd43dd8448eb211c80319c');
  t.equal(record.spanId.length, 0);
  for (const bad of ['[]', 'null', '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "abc"}]}]}]}', '{"resourceLogs": 5}', '{']) {
    t.throws(() => decodeOtlpRequest(Buffer.from(bad), 'json', 10, free), { code: 'LOGSTACK_ERR_OTLP_UNDECODABLE' }, bad);
  }
  t.equal(decodeOtlpRequest(Buffer.from('{}'), 'json', 10, free).records, 0);
});

t.test('what decoding holds is charged before it is decoded, and a charge refused stops it', async (t) => {
  const protobuf = request([EMPTY, EMPTY]);
  const json = Buffer.from(JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: '1' }] }] }] }));
  const charges: number[] = [];
  decodeOtlpRequest(protobuf, 'protobuf', 10, (bytes) => void charges.push(bytes));
  t.same(charges, [protobufCost(protobuf, 10).bytes], 'protobuf: once, all of it, from the wire');
  charges.length = 0;
  decodeOtlpRequest(json, 'json', 10, (bytes) => void charges.push(bytes));
  t.equal(charges[0], jsonParseCost(json), 'JSON: what JSON.parse holds first');
  t.same(charges.slice(1), [MESSAGE_BYTES, MESSAGE_BYTES, MESSAGE_BYTES, MESSAGE_BYTES, LONG_BYTES], 'then each message and Long before it is made');
  const refused = new Error('over the budget');
  for (const [body, format] of [[protobuf, 'protobuf'], [json, 'json']] as const) {
    t.throws(
      () =>
        decodeOtlpRequest(body, format, 10, () => {
          throw refused;
        }),
      refused,
    );
  }
});
