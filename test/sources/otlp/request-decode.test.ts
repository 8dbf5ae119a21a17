import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { isLogstackError } from '../../../src/errors.js';
import { countLogRecords, decodeOtlpRequest } from '../../../src/sources/otlp/request-decode.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field. */
function field(number: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | 2]), varint(bytes.length), bytes]);
}

/** One resource, one scope, these log records (each already a LogRecord's bytes). */
function request(records: readonly Buffer[]): Buffer {
  return field(1, field(2, Buffer.concat(records.map((r) => field(2, r)))));
}

const EMPTY = Buffer.alloc(0);

t.test('log records are counted on the wire, and counting stops past the bound', async (t) => {
  t.equal(countLogRecords(request([EMPTY, EMPTY, EMPTY]), 10), 3);
  const many = request(Array.from({ length: 100_000 }, () => EMPTY));
  t.equal(countLogRecords(many, 5), 6, 'one past the bound is enough to refuse');
  t.throws(() => countLogRecords(Buffer.from([0x0a, 0x05, 0x12]), 5), RangeError, 'a truncated body is malformed');
});

t.test('a body of a bound and one more record: decoded, then refused with 413 before decoding', async (t) => {
  t.equal(decodeOtlpRequest(request([EMPTY, EMPTY]), 'protobuf', 2).records, 2);
  const err = (() => {
    try {
      decodeOtlpRequest(request([EMPTY, EMPTY, EMPTY]), 'protobuf', 2);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isLogstackError(err, 'OTLP_TOO_MANY_RECORDS'));
});

t.test('decoding a hostile body allocates at most 20 times its size', async (t) => {
  // The shapes that cost the most per byte: values and attributes of two bytes each, records
  // being bounded by otlp.max_log_records. A JSON ingest body of `[{}, …]` costs ~19×.
  const size = 4 << 20;
  const emptyValue = field(1, EMPTY);
  const shapes: Record<string, Buffer> = {
    'empty array items': request([field(5, field(5, Buffer.concat(Array(size / 2 - 16).fill(emptyValue))))]),
    'empty attributes': request([Buffer.concat(Array(size / 2 - 16).fill(field(6, EMPTY)))]),
    'one-character attributes': request([Buffer.concat(Array(Math.floor(size / 11)).fill(field(6, Buffer.concat([field(1, Buffer.from('k')), field(2, field(1, Buffer.from('v')))]))))]),
  };
  // Kept until the end: a result collected during the next measurement would hide its cost.
  const kept: unknown[] = [];
  for (const [name, body] of Object.entries(shapes)) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const decoded = decodeOtlpRequest(body, 'protobuf', 10_000);
    gc();
    const retained = process.memoryUsage().heapUsed - before;
    t.ok(retained < 20 * body.length, `${name}: ${(retained / body.length).toFixed(1)}× the body`);
    t.equal(decoded.records, 1);
    kept.push(decoded);
  }
});

t.test("OTLP JSON: hex ids become bytes; what is not OTLP's JSON is undecodable", async (t) => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const decoded = decodeOtlpRequest(json({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '' }] }] }] }), 'json', 10);
  const record = decoded.request.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
  t.equal(Buffer.from(record.traceId).toString('hex'), '0af7651916cd43dd8448eb211c80319c');
  t.equal(record.spanId.length, 0);
  for (const bad of ['[]', 'null', '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "abc"}]}]}]}', '{"resourceLogs": 5}', '{']) {
    t.throws(() => decodeOtlpRequest(Buffer.from(bad), 'json', 10), { code: 'LOGSTACK_ERR_OTLP_UNDECODABLE' }, bad);
  }
  t.equal(decodeOtlpRequest(Buffer.from('{}'), 'json', 10).records, 0);
});
