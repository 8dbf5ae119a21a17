import t from 'tap';
import { decodeEntryAdapter } from '../../../src/loki/entry-codec.js';
import { parseLabels, type LokiEntry } from '../../../src/loki/entry.js';
import { MESSAGE_BYTES } from '../../../src/sources/otlp/decode-cost.js';
import { APP_TOKEN, send, startServer, type TestServer } from '../../support/http-server.js';
import { exportRequest, gzip, kv, kvlist, nowNs, postLogs, protobufOf, record, str, type Json } from './otlp-helpers.js';

async function walEntries(server: TestServer): Promise<LokiEntry[]> {
  const wal = server.wal.token('app');
  const { records } = await wal.read(wal.cursor, { maxRecords: 100_000, maxBytes: 256 << 20 });
  return records.map((r) => decodeEntryAdapter(r.entry, r.labels));
}

function tsNs(entry: LokiEntry): string {
  return (BigInt(entry.seconds) * 1_000_000_000n + BigInt(entry.nanos)).toString();
}

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';

t.test('a protobuf export is in the WAL when 200 comes, mapped as Loki maps OTLP, masked; the answer is an empty ExportLogsServiceResponse', async (t) => {
  const server = await startServer(t);
  const time = nowNs(2);
  const observed = nowNs(1);
  const body = exportRequest(
    [
      record({
        timeUnixNano: time,
        observedTimeUnixNano: observed,
        severityNumber: 13,
        severityText: 'WARN',
        body: str('count=3 Bearer abcdef123456'),
        attributes: [kv('http.route', str('/cart')), kv('user', kvlist(kv('id', { intValue: '42' }), kv('password', str('hunter2')))), kv('ratio', { doubleValue: 0.25 })],
        droppedAttributesCount: 2,
        flags: 1,
        traceId: TRACE_ID,
        spanId: SPAN_ID,
        eventName: 'cart.viewed',
      }),
    ],
    [kv('service.name', str('shop')), kv('deployment.environment', str('prod')), kv('host.name', str('node-1'))],
    { name: 'shop.http', version: '1.0.0', attributes: [kv('library.language', str('js'))], droppedAttributesCount: 1 },
  );
  const answer = await postLogs(server, protobufOf(body));
  t.equal(answer.status, 200);
  t.equal(answer.headers['content-type'], 'application/x-protobuf');
  t.equal(answer.raw.length, 0, 'an empty response: nothing was rejected');
  t.ok(answer.headers['x-request-id']);

  const [entry] = await walEntries(server);
  t.same(parseLabels(entry!.labels), { deployment_environment: 'prod', service_name: 'shop' });
  t.equal(tsNs(entry!), time);
  t.equal(entry!.line, 'count=3 Bearer ****');
  t.same(entry!.structuredMetadata, [
    ['http_route', '/cart'],
    ['user_id', '42'],
    ['user_password', '****'],
    ['ratio', '0.25'],
    ['observed_timestamp', observed],
    ['severity_number', '13'],
    ['severity_text', 'WARN'],
    ['dropped_attributes_count', '2'],
    ['flags', '1'],
    ['trace_id', TRACE_ID],
    ['span_id', SPAN_ID],
    ['event_name', 'cart.viewed'],
    ['host_name', 'node-1'],
    ['library_language', 'js'],
    ['scope_name', 'shop.http'],
    ['scope_version', '1.0.0'],
    ['scope_dropped_attributes_count', '1'],
  ]);
  t.match((await send(server, '/metrics')).text, /^logs_ingested_total\{token="app"\} 1$/m);
});

t.test("OTLP's JSON, plain and gzip: hex ids, 64-bit integers as strings, enums as numbers; the answer is JSON", async (t) => {
  const server = await startServer(t);
  const time = nowNs();
  const json = JSON.stringify(exportRequest([record({ timeUnixNano: time, severityNumber: 9, traceId: TRACE_ID, body: { intValue: '9007199254740993' } })]));
  for (const [payload, encoding] of [
    [json, undefined],
    [gzip(json), 'gzip'],
  ] as const) {
    const answer = await postLogs(server, payload, { type: 'application/json', ...(encoding === undefined ? {} : { encoding }) });
    t.equal(answer.status, 200);
    t.match(answer.headers['content-type'], /^application\/json/);
    t.same(answer.body, {});
  }
  const entries = await walEntries(server);
  t.same(
    entries.map((e) => [tsNs(e), e.line, Object.fromEntries(e.structuredMetadata).trace_id]),
    [
      [time, '9007199254740993', TRACE_ID],
      [time, '9007199254740993', TRACE_ID],
    ],
    'nanoseconds and integers beyond 2^53 exact; the trace id read as hex',
  );
});

t.test('a record without time_unix_nano takes observed_time_unix_nano, else the time it arrived', async (t) => {
  const server = await startServer(t, { deps: { clock: () => 1_760_000_000_000 } });
  const body = exportRequest([record({ timeUnixNano: '0', observedTimeUnixNano: '1759999999000000001' }), record({ timeUnixNano: '0' })]);
  t.equal((await postLogs(server, protobufOf(body))).status, 200);
  const entries = await walEntries(server);
  t.same(entries.map(tsNs), ['1759999999000000001', '1760000000000000000']);
  t.notOk(Object.fromEntries(entries[0]!.structuredMetadata).observed_timestamp, 'no observed_timestamp when it is the timestamp');
});

t.test('ids of zeros are no ids: left out, as Loki leaves them out', async (t) => {
  const server = await startServer(t);
  const body = exportRequest([record({ traceId: '0'.repeat(32), spanId: '0'.repeat(16) })]);
  t.equal((await postLogs(server, JSON.stringify(body), { type: 'application/json' })).status, 200);
  t.same((await walEntries(server))[0]!.structuredMetadata, [['scope_name', 'test-scope']]);
});

t.test('a map body is its JSON as Loki writes it: keys sorted, HTML escaped, masked by key and pattern', async (t) => {
  const server = await startServer(t);
  const body = kvlist(
    kv('z', str('<b>&</b>')),
    kv('card', { intValue: '4111111111111111' }),
    kv('request', kvlist(kv('token', { intValue: '7' }), kv('authorization', str('Bearer abc.def')))),
    kv('list', { arrayValue: { values: [{ boolValue: true }, {}, { doubleValue: 1e21 }, { bytesValue: Buffer.from('hi').toString('base64') }] } }),
  );
  t.equal((await postLogs(server, JSON.stringify(exportRequest([record({ body })])), { type: 'application/json' })).status, 200);
  const [entry] = await walEntries(server);
  t.equal(entry!.line, '{"card":"****1111","list":[true,null,1e+21,"aGk="],"request":{"authorization":"Beare****","token":"****"},"z":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"}');
});

t.test('a string body that is a JSON object is masked by key, as Loki push lines are', async (t) => {
  const server = await startServer(t);
  const line = '{"msg":"login","password":"hunter2","user":{"email":"jane.doe@example.com"}}';
  t.equal((await postLogs(server, protobufOf(exportRequest([record({ body: str(line) })])))).status, 200);
  t.equal((await walEntries(server))[0]!.line, '{"msg":"login","password":"****","user":{"email":"j******e@example.com"}}');
});

t.test('labels: the index labels configured, service_name discovered or unknown_service, static labels win, key names masked', async (t) => {
  const server = await startServer(t, { config: { otlp: { index_labels: ['k8s.pod.name', 'app', 'team'] }, loki: { static_labels: { team: 'core' } } } });
  const body: Json = {
    resourceLogs: [
      { resource: { attributes: [kv('k8s.pod.name', str('web-1')), kv('app', str('web')), kv('team', str('mine'))] }, scopeLogs: [{ logRecords: [record({ body: str('a') })] }] },
      { resource: { attributes: [kv('k8s.pod.name', str('web-2'))] }, scopeLogs: [{ logRecords: [record({ body: str('b') })] }] },
      { resource: { attributes: [kv('service.name', str('api')), kv('app', str('web'))] }, scopeLogs: [{ logRecords: [record({ body: str('c') })] }] },
      { scopeLogs: [{ logRecords: [record({ body: str('d'), attributes: [kv('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', str('x'))] })] }] },
    ],
  };
  t.equal((await postLogs(server, protobufOf(body))).status, 200);
  const entries = await walEntries(server);
  t.same(
    entries.map((e) => [e.line, parseLabels(e.labels)]),
    [
      ['a', { app: 'web', k8s_pod_name: 'web-1', service_name: 'web', team: 'core' }],
      ['b', { k8s_pod_name: 'web-2', service_name: 'unknown_service', team: 'core' }],
      ['c', { app: 'web', team: 'core' }],
      ['d', { service_name: 'unknown_service', team: 'core' }],
    ],
  );
  t.same(entries[2]!.structuredMetadata, [['service_name', 'api']], 'service.name not indexed stays structured metadata, and no service_name label is made up');
  t.same(entries[3]!.structuredMetadata.map(([name]) => name), ['____'], 'an attribute name that is a JWT is masked before it becomes a name');
});

t.test('a partial success: records Loki would refuse are counted and explained, the others are durable', async (t) => {
  const server = await startServer(t, { config: { limits: { max_message_bytes: 100 } } });
  const body = exportRequest([
    record({ body: str('x'.repeat(100)) }),
    record({ body: str('x'.repeat(101)) }),
    record({ timeUnixNano: nowNs(8 * 24 * 3600 * 1000), body: str('too old') }),
    record({ body: str('kept') }),
  ]);
  const answer = await postLogs(server, protobufOf(body));
  t.equal(answer.status, 200);
  t.equal(answer.body.partialSuccess.rejectedLogRecords, '2');
  t.match(answer.body.partialSuccess.errorMessage, /^2 of 4 log records were rejected, the others are stored: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[1\] has a line longer than 100 UTF-8 bytes.*; resource_logs\[0\]\.scope_logs\[0\]\.log_records\[2\] has a timestamp more than 604800 s in the past/);
  t.same((await walEntries(server)).map((e) => e.line.length), [100, 4], 'a line of exactly the limit is kept');

  const json = await postLogs(server, JSON.stringify(body), { type: 'application/json' });
  t.match(json.body, { partialSuccess: { rejectedLogRecords: '2', errorMessage: /^2 of 4 log records/ } }, 'the JSON answer spells the count as a string');
  const metrics = (await send(server, '/metrics')).text;
  t.match(metrics, /^logs_rejected_total\{token="app",reason="validation_failed"\} 4$/m);
  t.match(metrics, /^logs_ingested_total\{token="app"\} 4$/m);
});

t.test("Loki's per-entry limits, each exceeded by one: structured metadata pairs and bytes, nesting depth, label value length", async (t) => {
  const server = await startServer(t, {
    config: { limits: { max_metadata_keys: 20, max_structured_metadata_bytes: 200, max_metadata_depth: 3 }, loki_push: { max_label_value_length: 10 } },
  });
  // 20 pairs in all: the record's attributes and scope_name (no resource attribute is left over).
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => kv(`k${i}`, str('v')));
  const nested = (levels: number): Json => (levels === 0 ? str('leaf') : kvlist(kv('n', nested(levels - 1))));
  const body: Json = {
    resourceLogs: [
      {
        resource: { attributes: [kv('service.name', str('shop'))] },
        scopeLogs: [
          {
            scope: { name: 's' },
            logRecords: [
              record({ body: str('19+1 pairs'), attributes: pairs(19) }),
              record({ body: str('20+1 pairs'), attributes: pairs(20) }),
              // `a` and its value, and scope_name=s (11 bytes): 200 bytes, then 201.
              record({ body: str('200 bytes'), attributes: [kv('a', str('x'.repeat(188)))] }),
              record({ body: str('201 bytes'), attributes: [kv('a', str('x'.repeat(189)))] }),
              record({ body: str('depth 3'), attributes: [kv('a', nested(2))] }),
              record({ body: str('depth 4'), attributes: [kv('a', nested(3))] }),
              record({ body: nested(3) }),
              record({ body: nested(4) }),
            ],
          },
        ],
      },
      { resource: { attributes: [kv('service.name', str('x'.repeat(10)))] }, scopeLogs: [{ logRecords: [record({ body: str('label 10') })] }] },
      { resource: { attributes: [kv('service.name', str('x'.repeat(11)))] }, scopeLogs: [{ logRecords: [record({ body: str('label 11') })] }] },
    ],
  };
  const answer = await postLogs(server, protobufOf(body));
  t.equal(answer.status, 200);
  t.equal(answer.body.partialSuccess.rejectedLogRecords, '5');
  const message: string = answer.body.partialSuccess.errorMessage;
  t.match(message, /log_records\[1\] has 21 structured metadata pairs; at most 20/);
  t.match(message, /log_records\[3\] has 201 bytes of structured metadata after masking; at most 200/);
  t.match(message, /log_records\[5\] its body or an attribute nests maps or arrays deeper than 3 levels/);
  t.match(message, /log_records\[7\] its body or an attribute nests maps or arrays deeper than 3 levels/);
  t.match(message, /resource_logs\[2\] label "service_name" has a value longer than 10 bytes/);
  t.same((await walEntries(server)).map((e) => e.line.startsWith('{') ? 'map body' : e.line), ['19+1 pairs', '200 bytes', 'depth 3', 'map body', 'label 10']);
});

t.test('attribute keys and flattened maps, each bounded before the names are built: key bytes, pairs, bytes', async (t) => {
  const server = await startServer(t, {
    config: { limits: { max_metadata_keys: 20, max_structured_metadata_bytes: 200 }, loki_push: { max_label_name_length: 12 } },
  });
  const members = (n: number, key = (i: number) => `k${i}`) => kvlist(...Array.from({ length: n }, (_, i) => kv(key(i), str('v'))));
  const body: Json = {
    resourceLogs: [
      {
        resource: { attributes: [kv('service.name', str('shop'))] },
        scopeLogs: [
          {
            scope: { name: 's' },
            logRecords: [
              record({ body: str('key 12'), attributes: [kv('k'.repeat(12), str('v'))] }),
              record({ body: str('key 13'), attributes: [kv('k'.repeat(13), str('v'))] }),
              record({ body: str('member key 12'), attributes: [kv('m', kvlist(kv('é'.repeat(6), str('v'))))] }),
              record({ body: str('member key 13'), attributes: [kv('m', members(1000, (i) => `${'é'.repeat(6)}${i}`))] }),
              // 19 pairs and scope_name: the limit; 20 pass the flattening and are refused after it.
              record({ body: str('19 members'), attributes: [kv('m', members(19))] }),
              record({ body: str('20 members'), attributes: [kv('m', members(20))] }),
              record({ body: str('1000 members'), attributes: [kv('m', members(1000))] }),
              // `m_a` and 197 bytes: 200, the limit, flattened; one pair more is over it.
              record({ body: str('200 bytes flattened'), attributes: [kv('m', kvlist(kv('a', str('x'.repeat(197)))))] }),
              record({ body: str('204 bytes flattened'), attributes: [kv('m', kvlist(kv('a', str('x'.repeat(197))), kv('b', str('x'))))] }),
            ],
          },
        ],
      },
      { resource: { attributes: [kv('service.name', str('shop')), kv('r', kvlist(kv('k'.repeat(13), str('v'))))] }, scopeLogs: [{ logRecords: [record({ body: str('resource key 13') })] }] },
      {
        resource: { attributes: [kv('service.name', str('shop'))] },
        scopeLogs: [{ scope: { attributes: [kv('k'.repeat(13), str('v'))] }, logRecords: [record({ body: str('scope key 13') })] }],
      },
    ],
  };
  const answer = await postLogs(server, protobufOf(body));
  t.equal(answer.status, 200);
  const message: string = answer.body.partialSuccess.errorMessage;
  t.equal(answer.body.partialSuccess.rejectedLogRecords, '8', message);
  t.match(message, /log_records\[1\] its body or an attribute has a key longer than 12 UTF-8 bytes \(loki_push.max_label_name_length\)/);
  t.match(message, /log_records\[3\] its body or an attribute has a key longer than 12 UTF-8 bytes/);
  t.match(message, /log_records\[5\] has 21 structured metadata pairs; at most 20/);
  t.match(message, /log_records\[6\] its body or an attribute flattens to more than 20 structured metadata pairs \(limits.max_metadata_keys\)/);
  t.match(message, /log_records\[7\] has 211 bytes of structured metadata/);
  t.match(message, /log_records\[8\] its body or an attribute flattens to more than 200 bytes of structured metadata \(limits.max_structured_metadata_bytes\)/);
  t.match(message, /resource_logs\[1\] a resource attribute has a key longer than 12 UTF-8 bytes/);
  t.match(message, /resource_logs\[2\]\.scope_logs\[0\] its scope attribute has a key longer than 12 UTF-8 bytes/);
  t.notMatch(message, 'k'.repeat(13), 'no refused key is repeated');
  const entries = await walEntries(server);
  t.same(entries.map((e) => e.line), ['key 12', 'member key 12', '19 members']);
  t.same(entries[1]!.structuredMetadata[0], [`m_${'é'.repeat(6)}`, 'v'], 'a key of 12 UTF-8 bytes in 6 characters (service.name is 12 too)');
});

t.test('bounds of the request, each exceeded by one: body bytes as sent and inflated, log records', async (t) => {
  const maxBytes = 4096;
  const server = await startServer(t, { config: { limits: { max_body_bytes: maxBytes }, otlp: { max_log_records: 5 } } });
  const padded = (bytes: number): Buffer => {
    const base = protobufOf(exportRequest([record({ body: str('') })]));
    const body = protobufOf(exportRequest([record({ body: str('x'.repeat(bytes - base.length - 1)) })]));
    // One byte of string length more when the body passes 127 bytes: adjust to the exact size.
    return body.length === bytes ? body : protobufOf(exportRequest([record({ body: str('x'.repeat(bytes - base.length - 1 - (body.length - bytes))) })]));
  };
  const exact = padded(maxBytes);
  const over = padded(maxBytes + 1);
  t.equal(exact.length, maxBytes);
  t.equal(over.length, maxBytes + 1);
  t.equal((await postLogs(server, exact)).status, 200);
  const tooLarge = await postLogs(server, over);
  t.equal(tooLarge.status, 413);
  t.match(tooLarge.body, { code: 8, message: /larger than 4096 bytes/, details: [{ reason: 'payload_too_large', domain: 'logstack' }] });
  const inflated = await postLogs(server, gzip(over), { encoding: 'gzip' });
  t.equal(inflated.status, 413, 'a gzip body is bounded once inflated');
  t.equal((await postLogs(server, gzip(exact), { encoding: 'gzip' })).status, 200);

  const five = exportRequest(Array.from({ length: 5 }, () => record()));
  const six = exportRequest(Array.from({ length: 6 }, () => record()));
  t.equal((await postLogs(server, protobufOf(five))).status, 200);
  const tooMany = await postLogs(server, protobufOf(six));
  t.equal(tooMany.status, 413);
  t.match(tooMany.body, { message: /more than 5 log records \(otlp\.max_log_records\)/, details: [{ reason: 'too_many_entries' }] });
  t.equal((await postLogs(server, JSON.stringify(six), { type: 'application/json' })).status, 413, 'JSON too, before protobufjs converts it');
});

t.test('an undecodable body is 400 with a google.rpc.Status (ErrorInfo and BadRequest), encoded like the request', async (t) => {
  const server = await startServer(t);
  const protobuf = await postLogs(server, Buffer.from([0x0a, 0x05, 0x01]));
  t.equal(protobuf.status, 400);
  t.equal(protobuf.headers['content-type'], 'application/x-protobuf');
  t.match(protobuf.body, {
    code: 3,
    message: /^The body is not an OTLP logs export request: it is not valid protobuf/,
    details: [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'invalid_otlp_body', domain: 'logstack', metadata: { request_id: protobuf.headers['x-request-id'] } },
      { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: /not valid protobuf/ }] },
    ],
  });
  for (const body of ['{"resourceLogs": [', '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "not hex!"}]}]}]}', '{"resourceLogs": {"a": 1}}', '[]']) {
    const json = await postLogs(server, body, { type: 'application/json' });
    t.equal(json.status, 400, body);
    t.match(json.headers['content-type'], /^application\/json/);
    t.match(json.body, { code: 3, message: /^The body is not an OTLP logs export request/, details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'invalid_otlp_body' }] });
  }
  t.equal((await walEntries(server)).length, 0);
});

t.test('nesting past the decoder limit is a 400, not a stack overflow', async (t) => {
  const server = await startServer(t);
  // Written on the wire by hand: protobufjs refuses to encode what it would refuse to decode.
  const field = (number: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([(number << 3) | 2]), varint(bytes.length), bytes]);
  const varint = (n: number): Buffer => {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
    out.push(n);
    return Buffer.from(out);
  };
  let value = field(1, Buffer.from('leaf'));
  // AnyValue { kvlist_value = 6: KeyValueList { values = 1: KeyValue { key = 1, value = 2 } } }, 200 levels.
  for (let i = 0; i < 200; i++) value = field(6, field(1, Buffer.concat([field(1, Buffer.from('n')), field(2, value)])));
  const logRecord = Buffer.concat([Buffer.from([0x09]), Buffer.alloc(8), field(5, value)]);
  const body = field(1, field(2, field(2, logRecord)));
  const answer = await postLogs(server, body);
  t.equal(answer.status, 400);
  t.match(answer.body.message, /messages nest deeper than 100 levels/);
});

t.test('415 for another content type or coding; 401 without a token; an empty protobuf body is an empty export', async (t) => {
  const server = await startServer(t);
  const text = await postLogs(server, 'hello', { type: 'text/plain' });
  t.equal(text.status, 415);
  t.match(text.body, { code: 3, details: [{ reason: 'unsupported_media_type' }] });
  t.equal((await postLogs(server, protobufOf(exportRequest([record()])), { encoding: 'br' })).status, 415);
  const anonymous = await postLogs(server, protobufOf(exportRequest([record()])), { authorization: null });
  t.equal(anonymous.status, 401);
  t.match(anonymous.headers['www-authenticate'], /Bearer/);
  t.match(anonymous.body, { code: 16, details: [{ reason: 'unauthorized' }] });
  const basic = await postLogs(server, protobufOf(exportRequest([record()])), { authorization: `Basic ${Buffer.from(`otel:${APP_TOKEN}`).toString('base64')}` });
  t.equal(basic.status, 200, 'the token as the password of Basic auth');
  const empty = await postLogs(server, Buffer.alloc(0));
  t.equal(empty.status, 200);
  t.equal((await walEntries(server)).length, 1);
});

t.test('what may be retried says so: 429 for a full WAL quota, 503 under the disk reserve, each with Retry-After', async (t) => {
  const full = await startServer(t, { quotaBytes: 1 });
  const quota = await postLogs(full, protobufOf(exportRequest([record()])));
  t.equal(quota.status, 429);
  t.ok(Number(quota.headers['retry-after']) >= 1);
  t.match(quota.body, { code: 8, details: [{ reason: 'wal_quota_exceeded' }] });

  const disk = await startServer(t, { diskReservePercent: 100 });
  const reserve = await postLogs(disk, JSON.stringify(exportRequest([record()])), { type: 'application/json' });
  t.equal(reserve.status, 503);
  t.ok(Number(reserve.headers['retry-after']) >= 1);
  t.match(reserve.body, { code: 14, details: [{ reason: 'disk_reserve_reached' }] });
  t.match((await send(full, '/metrics')).text, /^logs_rejected_total\{token="app",reason="wal_quota_exceeded"\} 1$/m);
});

t.test('otlp.enabled: false leaves the route out', async (t) => {
  const server = await startServer(t, { config: { otlp: { enabled: false } } });
  t.equal((await postLogs(server, protobufOf(exportRequest([record()])))).status, 404);
});

t.test("OTLP/JSON with a value of the wrong type is a 400 that says where, and no answer or log line of LogStack's quotes the value", async (t) => {
  const server = await startServer(t);
  const card = '4111111111111111';
  const secret = 'Bearer SECRETa1b2c3d4e5';
  const wrong: Array<[string, Json]> = [
    ['logRecords[0].traceId', { traceId: [65, 66, 67, 68, 69, 70, 71, 72, 65, 66, 67, 68, 69, 70, 71, 72] }],
    ['logRecords[0].spanId', { spanId: { buffer: Number(card), length: 8 } }],
    ['logRecords[0].body.bytesValue', { body: { bytesValue: { buffer: secret, length: 1 } } }],
    ['logRecords[0].body.bytesValue', { body: { bytesValue: [1, 2, 3] } }],
    ['logRecords[0].body.intValue', { body: { intValue: secret } }],
    ['logRecords[0].timeUnixNano', { timeUnixNano: secret }],
    ['logRecords[0].timeUnixNano', { timeUnixNano: { low: 'x', high: Number(card) } }],
    ['logRecords[0].severityText', { severityText: { password: secret } }],
    ['logRecords[0].severityNumber', { severityNumber: secret }],
    ['logRecords[0].attributes[0]', { attributes: [null] }],
    ['logRecords[0].attributes[0].key', { attributes: [{ key: Number(card), value: str('x') }] }],
    ['logRecords[0].attributes[0].key', { attributes: [{ key: { a: secret }, value: str('x') }] }],
    ['logRecords[0].body.stringValue', { body: { stringValue: Number(card) } }],
    ['logRecords[0].body.stringValue', { body: { stringValue: [secret] } }],
    ['logRecords[0].body.boolValue', { body: { boolValue: card } }],
    ['logRecords[0].eventName', { eventName: Number(card) }],
    ['logRecords[0].flags', { flags: secret }],
  ];
  for (const [where, fields] of wrong) {
    const body = JSON.stringify(exportRequest([record(fields)]));
    const answer = await postLogs(server, body, { type: 'application/json' });
    t.equal(answer.status, 400, `${where}: ${JSON.stringify(fields)}`);
    t.match(answer.body, { code: 3, details: [{ reason: 'invalid_otlp_body' }] });
    t.ok(String(answer.body?.message).includes(`resourceLogs[0].scopeLogs[0].${where} `), `the answer says where: ${answer.body?.message}`);
    t.notMatch(answer.raw.toString(), /4111111111111111|SECRET/, 'the answer does not quote the value');
  }
  t.equal((await walEntries(server)).length, 0, 'nothing is stored');
  t.notMatch(server.logText(), /41111111|SECRET/, 'no log line quotes a value (request ids are random hex: four digits of the card may be in one)');
  t.notOk(server.logLines().some((line) => line.level === 50), 'none was an internal error');
});

t.test("OTLP/JSON in the proto's snake_case field names, whole or mixed with lowerCamelCase, is read as Loki's OTLP endpoint reads it", async (t) => {
  const server = await startServer(t);
  const time = nowNs();
  const camel = exportRequest(
    [record({ timeUnixNano: time, severityNumber: 9, body: str('SNAKE Bearer abcdef123456'), traceId: TRACE_ID, attributes: [kv('password', str('hunter2')), kv('n', { intValue: '7' })] })],
    [kv('service.name', str('shop'))],
  );
  const snake = {
    resource_logs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { string_value: 'shop' } }] },
        scope_logs: [
          {
            scope: { name: 'test-scope' },
            log_records: [
              {
                time_unix_nano: time,
                severity_number: 9,
                body: { string_value: 'SNAKE Bearer abcdef123456' },
                trace_id: TRACE_ID,
                attributes: [
                  { key: 'password', value: { string_value: 'hunter2' } },
                  { key: 'n', value: { int_value: '7' } },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  const mixed = {
    resourceLogs: [
      {
        resource: { attributes: [kv('service.name', { string_value: 'shop' })] },
        scope_logs: [{ scope: { name: 'test-scope' }, logRecords: [{ timeUnixNano: time, severity_number: 9, body: { stringValue: 'SNAKE Bearer abcdef123456' }, trace_id: TRACE_ID, attributes: [kv('password', str('hunter2')), kv('n', { int_value: '7' })] }] }],
      },
    ],
  };
  for (const body of [camel, snake, mixed]) {
    const answer = await postLogs(server, JSON.stringify(body), { type: 'application/json' });
    t.equal(answer.status, 200);
    t.same(answer.body, {}, 'every record accepted');
  }
  const entries = await walEntries(server);
  t.equal(entries.length, 3, 'none was dropped');
  for (const entry of entries) {
    t.same(parseLabels(entry.labels), { service_name: 'shop' });
    t.equal(tsNs(entry), time);
    t.equal(entry.line, 'SNAKE Bearer ****', 'masked');
    t.same(entry.structuredMetadata, [
      ['password', '****'],
      ['n', '7'],
      ['severity_number', '9'],
      ['trace_id', TRACE_ID],
      ['scope_name', 'test-scope'],
    ]);
  }
  t.notMatch(JSON.stringify(entries), /hunter2|abcdef123456/);
});

t.test("what decoding would hold is charged to the body budget first: a body of empty messages that fits exactly is taken, one message more is 413", async (t) => {
  const resources = 1000;
  // The body as decoded (2 bytes an empty ResourceLogs), and each message it becomes, the request's own included.
  const budget = 2 * resources + MESSAGE_BYTES * (resources + 1);
  const server = await startServer(t, { config: { limits: { max_body_bytes: 4096, max_body_bytes_in_flight: budget, max_body_bytes_in_flight_per_key: budget } } });
  const empties = (n: number): Buffer => Buffer.concat(Array.from({ length: n }, () => Buffer.from([0x0a, 0x00])));
  const atBound = await postLogs(server, empties(resources));
  t.equal(atBound.status, 200, 'at the bound');
  const over = await postLogs(server, empties(resources + 1));
  t.equal(over.status, 413, 'one message more');
  t.match(over.body, { code: 8, message: new RegExp(`would hold ${budget + 2 + MESSAGE_BYTES} bytes of memory, more than limits\\.max_body_bytes_in_flight_per_key \\(${budget}\\)`), details: [{ reason: 'payload_too_large' }] });
  const gzipped = await postLogs(server, gzip(empties(2000)), { encoding: 'gzip' });
  t.equal(gzipped.status, 413, 'gzipped, a few bytes as sent');
  const json = await postLogs(server, `{"resourceLogs":[${Array(1300).fill('{}').join(',')}]}`, { type: 'application/json' });
  t.equal(json.status, 413, 'JSON, before JSON.parse');
  t.match(json.body, { details: [{ reason: 'payload_too_large' }] });
  t.match((await send(server, '/metrics')).text, /^http_body_bytes_in_flight 0$/m, 'everything charged is given back');
});
