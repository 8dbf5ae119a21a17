import t from 'tap';
import { createOtlpPipeline } from '../../../src/sources/otlp/otlp-pipeline.js';
import { decodeOtlpRequest } from '../../../src/sources/otlp/request-decode.js';
import { testConfig } from '../../support/config.js';
import { decodedEntries, recordingRoom } from '../../support/wal.js';
import { unitsBeforeMasking } from '../../../src/pipeline/limits.js';
import { cookieHeader, maskedTexts } from '../../support/masked-texts.js';
import { exportRequest, kv, kvlist, nowNs, protobufOf, record, str } from './otlp-helpers.js';

const room = (bytes: number) => recordingRoom(bytes, 'app');

// The same times in every request: a record's cost depends on its timestamp's encoded length.
const times = Array.from({ length: 10 }, (_, i) => nowNs(-i));
const request = () =>
  decodeOtlpRequest(
    protobufOf(exportRequest(times.map((time, i) => record({ timeUnixNano: time, body: str(`line ${i}`) })))),
    'protobuf',
    1000,
    () => {},
  ).request;

t.test("an export's records are checked against the WAL's room as they are built: refused at the record that passes it, before it is written", async (t) => {
  const pipeline = createOtlpPipeline(testConfig());
  const now = Date.now();
  const unbounded = await pipeline.prepare('app', request(), now);
  t.equal(unbounded.accepted, 10);
  t.same(unbounded.batch.labelSets, ['{service_name="shop"}'], 'the label set once');
  t.same(decodedEntries(unbounded.batch).map((e) => e.line), Array.from({ length: 10 }, (_, i) => `line ${i}`));
  const cost = unbounded.batch.walBytes;

  const exact = room(cost);
  t.equal((await pipeline.prepare('app', request(), now, exact)).accepted, 10, 'a room of exactly its cost takes it');
  t.same(exact.asked, [], 'the room was never asked while within it');

  const short = room(cost - 1);
  await t.rejects(pipeline.prepare('app', request(), now, short), { code: 'LOGSTACK_ERR_WAL_QUOTA_EXCEEDED' });
  t.same(short.asked, [cost], 'asked once, for the batch with its last record: refused before that record was written');
});

t.test('a body, attributes, a resource or a scope too long for masking to bring under its limit is refused before it is masked', async (t) => {
  const pipeline = createOtlpPipeline(testConfig({ limits: { max_message_bytes: 1000, max_structured_metadata_bytes: 1000 }, loki_push: { max_label_value_length: 1000, max_label_names_per_series: 15 } }));
  const bound = unitsBeforeMasking(1000);
  const masked = maskedTexts(t);
  const decoded = (json: Record<string, unknown>) => decodeOtlpRequest(protobufOf(json), 'protobuf', 1000, () => {}).request;
  const recordAt = 'resource_logs[0].scope_logs[0].log_records[0]';
  const line = /line longer than 1000 UTF-8 bytes after masking \(limits.max_message_bytes\); refused before masking/;
  const metadata = /more than 1000 bytes of structured metadata after masking \(limits.max_structured_metadata_bytes\); refused before masking/;
  const cases = [
    { what: 'a string body', json: exportRequest([record({ body: str(cookieHeader(bound + 1)) })]), where: recordAt, reason: line },
    { what: 'a map body', json: exportRequest([record({ body: kvlist(kv('c', str(cookieHeader(bound)))) })]), where: recordAt, reason: line },
    { what: 'an attribute', json: exportRequest([record({ attributes: [kv('c', str(cookieHeader(bound)))] })]), where: recordAt, reason: metadata },
    { what: 'a map attribute', json: exportRequest([record({ attributes: [kv('m', kvlist(kv('c', str(cookieHeader(bound - 1)))))] })]), where: recordAt, reason: metadata },
    {
      what: 'a resource attribute',
      json: exportRequest([record()], [kv('service.name', str('shop')), kv('x', str(cookieHeader(bound)))]),
      where: 'resource_logs[0]',
      reason: /its resource attributes are \d+ characters, more than masking could bring under 1000 bytes of structured metadata/,
    },
    {
      what: 'a resource label',
      json: exportRequest([record()], [kv('service.name', str(cookieHeader(unitsBeforeMasking(15 * 1000))))]),
      where: 'resource_logs[0]',
      reason: /a resource attribute made a label is \d+ characters, more than masking could bring under 15000 bytes of label values/,
    },
    { what: 'a scope', json: exportRequest([record()], undefined, { name: cookieHeader(bound + 1) }), where: 'resource_logs[0].scope_logs[0]', reason: /its scope attributes are \d+ characters/ },
  ];
  for (const { what, json, where, reason } of cases) {
    masked.length = 0;
    const prepared = await pipeline.prepare('app', decoded(json), Date.now());
    t.match(prepared, { accepted: 0, rejected: 1, problems: [{ where, reason }] }, `${what}: rejected`);
    t.same(masked.filter((length) => length > 1000), [], `${what}: nothing long was masked`);
  }

  // One unit less and masking might have brought it under: it is masked, then rejected as before.
  const within = [
    { what: 'a string body', json: exportRequest([record({ body: str(cookieHeader(bound)) })]), reason: /line longer than 1000 UTF-8 bytes after masking \(limits.max_message_bytes\)$/ },
    { what: 'an attribute', json: exportRequest([record({ attributes: [kv('c', str(cookieHeader(bound - 1)))] })]), reason: /bytes of structured metadata after masking; at most 1000/ },
  ];
  for (const { what, json, reason } of within) {
    masked.length = 0;
    const prepared = await pipeline.prepare('app', decoded(json), Date.now());
    t.match(prepared, { accepted: 0, rejected: 1, problems: [{ where: recordAt, reason }] }, `${what} at the bound: rejected after masking`);
    t.ok(masked.some((length) => length >= bound - 1), `${what} at the bound: masked`);
  }
});
