import t from 'tap';
import { isLogstackError } from '../../../src/errors.js';
import { requestFromJson } from '../../../src/sources/otlp/otlp-json.js';
import { ExportLogsServiceRequest, int64Value, type LogRecord } from '../../../src/sources/otlp/otlp-proto.js';

const free = (): void => {};

function oneRecord(fields: Record<string, unknown>): Record<string, unknown> {
  return { resourceLogs: [{ scopeLogs: [{ logRecords: [fields] }] }] };
}

function recordOf(json: unknown): LogRecord {
  return requestFromJson(json, 10, free).request.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
}

function refusal(json: unknown): string {
  try {
    requestFromJson(json, 10, free);
  } catch (err) {
    if (isLogstackError(err, 'OTLP_UNDECODABLE')) return err.message;
    throw err;
  }
  return 'accepted';
}

t.test('OTLP JSON becomes the messages the binary decoder makes of the same request', async (t) => {
  const json = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }], droppedAttributesCount: 1 },
        scopeLogs: [
          {
            scope: { name: 'lib', version: '1.0' },
            logRecords: [
              {
                timeUnixNano: '1760000000000000001',
                observedTimeUnixNano: 1760000000000,
                severityNumber: 9,
                severityText: 'INFO',
                body: { kvlistValue: { values: [{ key: 'n', value: { intValue: '-9223372036854775808' } }, { key: 'd', value: { doubleValue: 0.5 } }] } },
                attributes: [{ key: 'b', value: { bytesValue: Buffer.from('hi').toString('base64') } }, { key: 'ok', value: { boolValue: true } }],
                droppedAttributesCount: 2,
                flags: 1,
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                eventName: 'e',
              },
            ],
            schemaUrl: 'https://opentelemetry.io/schemas/1.0.0',
          },
        ],
      },
    ],
  };
  const { request, records } = requestFromJson(json, 10, free);
  t.equal(records, 1);
  const binary = ExportLogsServiceRequest.decode(
    ExportLogsServiceRequest.encode(
      ExportLogsServiceRequest.fromObject({
        ...json,
        resourceLogs: [
          {
            ...json.resourceLogs[0],
            scopeLogs: [
              {
                ...json.resourceLogs[0]!.scopeLogs[0],
                logRecords: [
                  {
                    ...json.resourceLogs[0]!.scopeLogs[0]!.logRecords[0],
                    traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex'),
                    spanId: Buffer.from('eee19b7ec3c1b174', 'hex'),
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
  const asObject = (message: unknown) => ExportLogsServiceRequest.toObject(message as never, { longs: String, bytes: String, oneofs: true });
  t.same(asObject(request), asObject(binary));
  const record = request.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
  t.equal(int64Value(record.timeUnixNano), 1760000000000000001n, 'exactly, past 2^53');
  t.equal(record.body!.value, 'kvlistValue');
});

t.test("what proto3's JSON allows: enum names, integers as strings, special doubles, null as absent; unknown keys are skipped", async (t) => {
  const record = recordOf(
    oneRecord({ severityNumber: 'SEVERITY_NUMBER_WARN', flags: '255', droppedAttributesCount: null, body: { doubleValue: 'NaN' }, unknownField: { anything: [1, 2] } }),
  );
  t.equal(record.severityNumber, 13);
  t.equal(record.flags, 255);
  t.equal(record.droppedAttributesCount, 0);
  t.ok(Number.isNaN(record.body!.doubleValue));
  t.equal(recordOf(oneRecord({ body: { doubleValue: '-Infinity' } })).body!.doubleValue, -Infinity);
  t.equal(recordOf(oneRecord({ body: { doubleValue: '2.5e3' } })).body!.doubleValue, 2500);
  const last = recordOf(oneRecord({ body: { stringValue: 'first', intValue: 7 } })).body!;
  t.equal(last.value, 'intValue', 'of a oneof given twice, the last one counts, as pdata reads it');
  t.equal(int64Value(last.intValue), 7n);
  t.notOk(Object.hasOwn(last, 'stringValue'));
});

t.test('integers are checked against their type, at its bounds and one past them', async (t) => {
  t.equal(int64Value(recordOf(oneRecord({ body: { intValue: '9223372036854775807' } })).body!.intValue), 9223372036854775807n);
  t.match(refusal(oneRecord({ body: { intValue: '9223372036854775808' } })), /logRecords\[0\]\.body\.intValue must be a signed 64-bit integer/);
  t.equal(int64Value(recordOf(oneRecord({ timeUnixNano: '18446744073709551615' })).timeUnixNano), 18446744073709551615n);
  t.match(refusal(oneRecord({ timeUnixNano: '18446744073709551616' })), /timeUnixNano must be an unsigned 64-bit integer/);
  t.match(refusal(oneRecord({ timeUnixNano: '-1' })), /timeUnixNano must be/, 'a fixed64 is unsigned');
  t.match(refusal(oneRecord({ timeUnixNano: '1'.repeat(21) })), /timeUnixNano must be/);
  t.equal(recordOf(oneRecord({ flags: 4294967295 })).flags, 4294967295);
  t.match(refusal(oneRecord({ flags: 4294967296 })), /flags must be an unsigned 32-bit integer/);
  t.match(refusal(oneRecord({ droppedAttributesCount: 1.5 })), /droppedAttributesCount must be an unsigned 32-bit integer/);
  t.match(refusal(oneRecord({ severityNumber: 'SEVERITY_NUMBER_LOUD' })), /severityNumber must be one of its enum names, or a 32-bit integer/);
});

t.test('a value of the wrong type is refused by where it is, never by what it is', async (t) => {
  const secret = 'Bearer SECRET0123456789';
  const cases: Array<[unknown, RegExp]> = [
    [[], /^The body is not an OTLP logs export request: the body must be an object$/],
    [{ resourceLogs: { a: secret } }, /resourceLogs must be a list/],
    [{ resourceLogs: [secret] }, /resourceLogs\[0\] must be an object/],
    [oneRecord({ traceId: secret }), /logRecords\[0\]\.traceId must be a string of hex digits/],
    [oneRecord({ spanId: 'abc' }), /logRecords\[0\]\.spanId must be a string of hex digits/],
    [oneRecord({ body: { bytesValue: `${secret}!` } }), /logRecords\[0\]\.body\.bytesValue must be a base64 string/],
    [oneRecord({ body: { boolValue: 'true' } }), /body\.boolValue must be true or false/],
    [oneRecord({ body: { doubleValue: secret } }), /body\.doubleValue must be a number/],
    [oneRecord({ attributes: [{ key: 'k', value: { arrayValue: { values: [{ stringValue: 4111111111111111 }] } } }] }), /attributes\[0\]\.value\.arrayValue\.values\[0\]\.stringValue must be a string/],
  ];
  for (const [json, message] of cases) {
    const text = refusal(json);
    t.match(text, message);
    t.notMatch(text, /SECRET|4111/);
  }
});

t.test('messages nest at most 100 deep, as in the binary decoder; records are counted to the bound and one past it', async (t) => {
  const nested = (levels: number): unknown => {
    let value: unknown = { stringValue: 'leaf' };
    for (let i = 0; i < levels; i++) value = { arrayValue: { values: [value] } };
    return value;
  };
  // The request is level 0, then ResourceLogs, ScopeLogs, LogRecord: the body's AnyValue is level 4, each array two more.
  t.equal(recordOf(oneRecord({ body: nested(48) })).body!.value, 'arrayValue');
  t.match(refusal(oneRecord({ body: nested(49) })), /nests messages deeper than 100 levels/);
  t.match(refusal(oneRecord({ body: nested(100_000) })), /nests messages deeper than 100 levels/, 'no stack overflow');

  const records = (n: number) => ({ resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: n }, () => ({})) }] }] });
  t.equal(requestFromJson(records(3), 3, free).records, 3);
  t.throws(() => requestFromJson(records(4), 3, free), { code: 'LOGSTACK_ERR_OTLP_TOO_MANY_RECORDS' });
});

t.test("every field is read under its lowerCamelCase name and under the proto's snake_case one, as pdata reads them", async (t) => {
  const camel = oneRecord({
    timeUnixNano: '1760000000000000001',
    observedTimeUnixNano: '1760000000000000002',
    severityNumber: 9,
    severityText: 'INFO',
    body: { arrayValue: { values: [{ stringValue: 's' }, { boolValue: true }, { intValue: '1' }, { doubleValue: 1.5 }, { bytesValue: 'aGk=' }, { kvlistValue: { values: [] } }] } },
    attributes: [{ key: 'k', value: { stringValue: 'v' } }],
    droppedAttributesCount: 1,
    flags: 1,
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    eventName: 'e',
  });
  const snake = {
    resource_logs: [
      {
        resource: { attributes: [], dropped_attributes_count: 0 },
        schema_url: '',
        scope_logs: [
          {
            scope: { name: '', version: '', attributes: [], dropped_attributes_count: 0 },
            log_records: [
              {
                time_unix_nano: '1760000000000000001',
                observed_time_unix_nano: '1760000000000000002',
                severity_number: 9,
                severity_text: 'INFO',
                body: { array_value: { values: [{ string_value: 's' }, { bool_value: true }, { int_value: '1' }, { double_value: 1.5 }, { bytes_value: 'aGk=' }, { kvlist_value: { values: [] } }] } },
                attributes: [{ key: 'k', value: { string_value: 'v' } }],
                dropped_attributes_count: 1,
                flags: 1,
                trace_id: '5b8efff798038103d269b633813fc60c',
                span_id: 'eee19b7ec3c1b174',
                event_name: 'e',
              },
            ],
          },
        ],
      },
    ],
  };
  const asObject = (json: unknown) => ExportLogsServiceRequest.toObject(requestFromJson(json, 10, free).request as never, { longs: String, bytes: String, oneofs: true });
  const fromCamel = asObject(camel);
  const fromSnake = asObject(snake);
  t.ok(fromSnake.resourceLogs[0].resource && fromSnake.resourceLogs[0].scopeLogs[0].scope, 'the resource and the scope are read');
  t.same(fromSnake.resourceLogs[0].scopeLogs[0].logRecords, fromCamel.resourceLogs[0].scopeLogs[0].logRecords);
  t.match(refusal({ resource_logs: [{ scope_logs: [{ log_records: [{ trace_id: 'xyz' }] }] }] }), /resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.traceId must be/, 'a problem is named in lowerCamelCase');
});
