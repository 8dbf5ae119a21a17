import t from 'tap';
import { createOtlpPipeline } from '../../../src/sources/otlp/otlp-pipeline.js';
import { decodeOtlpRequest } from '../../../src/sources/otlp/request-decode.js';
import { testConfig } from '../../support/config.js';
import { decodedEntries, recordingRoom } from '../../support/wal.js';
import { exportRequest, nowNs, protobufOf, record, str } from './otlp-helpers.js';

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
