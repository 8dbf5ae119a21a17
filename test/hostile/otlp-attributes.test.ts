/**
 * OTLP attribute names: a map member's structured metadata name is its parent's name, `_`, and
 * its key, so a long key over a map of many members became one copy of the key per member (and
 * another for the name cache's id). Keys are refused past `loki_push.max_label_name_length`
 * before they are used, and a map stops being flattened once it is past what a record may carry.
 *
 * The cache of those names is fed by client input: it is bounded in bytes, not in entries (a
 * nested key's name repeats every key above it: kilobytes each, within the key limit), and it
 * never keeps what a rejected record taught it.
 *
 * Run with the heap limit the StatefulSet ships (`--max-old-space-size=160`).
 */
import t from 'tap';
import { ExportLogsServiceResponse } from '../../src/sources/otlp/otlp-proto.js';
import { kv, kvlist, protobufOf, record, str, type Json } from '../sources/otlp/otlp-helpers.js';
import { HOSTILE_TOKEN, MIB, mib, startHostileService } from './harness.js';

interface Answer {
  readonly status: number;
  readonly rejected: number;
  readonly message: string;
}

async function post(url: string, body: Buffer): Promise<Answer> {
  const response = await fetch(`${url}/v1/logs`, {
    method: 'POST',
    body,
    headers: { authorization: `Bearer ${HOSTILE_TOKEN}`, 'content-type': 'application/x-protobuf' },
  }).catch(() => null);
  if (response === null) return { status: 0, rejected: 0, message: '' };
  const raw = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) return { status: response.status, rejected: 0, message: raw.toString('latin1') };
  const partial = ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(raw), { longs: Number }).partialSuccess ?? {};
  return { status: 200, rejected: Number(partial.rejectedLogRecords ?? 0), message: String(partial.errorMessage ?? '') };
}

/** Records, each with one map attribute of `members` members under a key of `keyBytes` (distinct per record). */
function mapExport(records: number, keyBytes: number, members: number): Buffer {
  const logRecords: Json[] = [];
  for (let r = 0; r < records; r++) {
    const key = `${String(r).padStart(6, '0')}`.padEnd(keyBytes, 'k');
    logRecords.push(record({ attributes: [kv(key, kvlist(...Array.from({ length: members }, (_, m) => kv(String(m), str('v')))))] }));
  }
  return protobufOf({ resourceLogs: [{ resource: { attributes: [kv('service.name', str('shop'))] }, scopeLogs: [{ logRecords }] }] });
}

t.test('an OTLP attribute key is refused past loki_push.max_label_name_length, before a name is built of it', async (t) => {
  const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });

  // 50 names of about 1,030 bytes stay under the 64,000 bytes of structured metadata.
  const atBound = await post(service.url, mapExport(1, 1024, 50));
  t.same([atBound.status, atBound.rejected], [200, 0], `a key of 1,024 bytes over 50 members is stored (${atBound.message})`);
  const over = await post(service.url, mapExport(1, 1025, 50));
  t.same([over.status, over.rejected], [200, 1], 'a key of 1,025 bytes: the record is rejected');
  t.match(over.message, /has a key longer than 1024 UTF-8 bytes \(loki_push\.max_label_name_length\)/);

  const body = mapExport(1, 100_000, 1000);
  const run = await service.measure(async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 3; i++) answers.push(await post(service.url, body));
    return answers;
  });
  t.same(
    run.result.map((a) => [a.status, a.rejected]),
    [
      [200, 1],
      [200, 1],
      [200, 1],
    ],
    'a 100 kB key over 1,000 members: rejected, three times',
  );
  t.ok(run.alive, 'the service is alive');
  // A name built of each member is 100 MB a request. Refused first, the request costs 0.3-2 MiB;
  // the bound leaves room for a collection that comes late on a busy machine.
  t.ok(run.peakRssGrowthBytes < 16 * MIB, `peak RSS grew ${mib(run.peakRssGrowthBytes)} for ${body.length} bytes sent`);
  t.equal(run.walGrowthBytes, 0);
  t.equal(run.healthFailures, 0);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
});

t.test('a map of 1,000 members under keys within the limit stops being flattened past the structured metadata limits', async (t) => {
  const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });
  // 50 records, each a 1,024-byte key over 1,000 members (650 kB): a name of 1 kB per member
  // was 50 MB of names, and as much again of ids for the name cache.
  const body = mapExport(50, 1024, 1000);
  const run = await service.measure(() => post(service.url, body));
  t.same([run.result.status, run.result.rejected], [200, 50], 'every record rejected');
  t.match(run.result.message, /flattens to more than 64000 bytes of structured metadata \(limits\.max_structured_metadata_bytes\)/);
  t.ok(run.alive, 'the service is alive');
  // Decoding alone makes an object per member, some 200 bytes each for 13 bytes sent: 15-25 MiB
  // measured, the most on a busy machine. The names once built were 100 MB.
  t.ok(run.peakRssGrowthBytes < 48 * MIB, `peak RSS grew ${mib(run.peakRssGrowthBytes)} for ${body.length} bytes sent`);
  t.equal(run.walGrowthBytes, 0);
  t.equal(run.healthFailures, 0);
  t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
});

/** Maps nested under the attribute: as deep as limits.max_metadata_depth (8) lets one nest. */
const LEVELS = 6;
const KEY = 'k'.repeat(1024);

/**
 * An attribute under a new 1,024-byte key, its value maps nested `LEVELS` deep under 1,024-byte
 * keys, the last with `members` members: names of 1 to 6 kB to cache, one per member of the last
 * map. One member: 6 kB of structured metadata, stored. 11 members: 67 kB, over the 64,000 bytes
 * of limits.max_structured_metadata_bytes, rejected once flattened.
 */
function deepRecord(id: string, members: number): Json {
  let value: Json = kvlist(...Array.from({ length: members }, (_, m) => kv(String(m), str('v'))));
  for (let level = 1; level < LEVELS; level++) value = kvlist(kv(KEY, value));
  return record({ attributes: [kv(id.padEnd(1024, 'k'), value)] });
}

function deepExport(request: number, records: number, rejected: boolean): Buffer {
  const logRecords = Array.from({ length: records }, (_, r) => deepRecord(`${request}-${r}-`, rejected ? 11 : 1));
  return protobufOf({ resourceLogs: [{ resource: { attributes: [kv('service.name', str('shop'))] }, scopeLogs: [{ logRecords }] }] });
}

const REQUESTS = 32;
const RECORDS = 125;

for (const rejected of [true, false]) {
  const what = rejected ? 'rejected records' : 'stored records';
  t.test(`${REQUESTS} requests of ${RECORDS} ${what} of 6 nested 1,024-byte keys: the attribute-name cache keeps at most its bytes`, async (t) => {
    const service = await startHostileService(t, { nodeArgs: ['--max-old-space-size=160'] });
    const bodies = Array.from({ length: REQUESTS }, (_, i) => deepExport(i, RECORDS, rejected));
    const run = await service.measure(async () => {
      const answers = [];
      for (const body of bodies) answers.push(await post(service.url, body));
      return answers;
    });
    t.same(
      run.result.map((a) => [a.status, a.rejected]),
      bodies.map(() => [200, rejected ? RECORDS : 0]),
      `every request answered 200, its ${what} counted`,
    );
    t.ok(run.alive, 'the service is alive');
    // One request (750 kB) decoded and mapped at a time, the garbage of its names until the next
    // collection, and the cache's 2 MiB: 9-32 MiB. 102-160 MiB when the cache kept 10,000 names
    // of any length, the names of rejected records among them.
    t.ok(run.peakRssGrowthBytes < 64 * MIB, `peak RSS grew ${mib(run.peakRssGrowthBytes)}`);
    t.equal(run.healthFailures, 0);
    t.ok(run.healthMaxMs < 1000, `/healthz within 1 s (${run.healthMaxMs.toFixed(0)} ms)`);
  });
}
