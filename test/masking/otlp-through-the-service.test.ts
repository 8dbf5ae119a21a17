/**
 * OTLP records sent as an OpenTelemetry exporter sends them (protobuf and JSON) to a real
 * LogstackService with its disk WAL, masked by the same engine as the other two ways in: what
 * must be hidden is in neither the WAL's segment files nor what the Loki stand-in receives, and
 * what must be kept (ids, real timestamps, ordinary numbers) reaches Loki as sent.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ExportLogsServiceRequest } from '../../src/sources/otlp/otlp-proto.js';
import type { ReceivedEntry } from '../support/loki-stand-in.js';
import { startServiceWithLoki, type RunningService } from '../support/service-with-loki.js';

const TOKEN = 'tok_otlpmask_0123456789abcdef';
const ADMIN = 'adm_otlpmask_0123456789abcdef';

type Json = Record<string, unknown>;
const str = (value: string): Json => ({ stringValue: value });
const kv = (key: string, value: Json): Json => ({ key, value });
const kvlist = (...values: Json[]): Json => ({ kvlistValue: { values } });
const array = (...values: Json[]): Json => ({ arrayValue: { values } });

/** Luhn-valid: a 16-digit Visa test card and a 19-digit card (sent unrounded, an intValue is exact). */
const CARD_16 = '4111111111111111';
const CARD_19 = '6177503476599092008';

function run(t: Test, masking: Json = {}): Promise<RunningService> {
  return startServiceWithLoki(t, { security: { admin_token: ADMIN, api_keys: { [TOKEN]: { name: 'otlp-masking', ...masking } } } });
}

async function post(url: string, body: string | Buffer | undefined, contentType?: string, token = TOKEN): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (contentType !== undefined) headers['content-type'] = contentType;
  const res = await fetch(url, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text() };
}

/** The protobuf of an OTLP JSON request (hex ids become bytes, as OTLP's JSON means them). */
function protobufOf(json: Json): Buffer {
  const copy = structuredClone(json) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Json[] }> }> };
  for (const resource of copy.resourceLogs) {
    for (const scope of resource.scopeLogs) {
      for (const log of scope.logRecords) for (const id of ['traceId', 'spanId']) if (typeof log[id] === 'string') log[id] = Buffer.from(log[id] as string, 'hex');
    }
  }
  return Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(copy)).finish());
}

function exportRequest(records: Json[], resource: Json[] = [kv('service.name', str('shop'))], scope: Json = { name: 'scope' }): Json {
  return { resourceLogs: [{ resource: { attributes: resource }, scopeLogs: [{ scope, logRecords: records }] }] };
}

async function walBytes(root: string): Promise<Buffer> {
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.wal'));
  return Buffer.concat(await Promise.all(files.map((f) => readFile(join(root, f)))));
}

/**
 * Sends `records` once as protobuf and once as JSON (each record's body tagged with the way it
 * went, so Loki keeps both), checks that no `hidden` text is in the WAL or reached Loki, and
 * returns what Loki got.
 */
async function sendBoth(t: Test, r: RunningService, records: (way: string, i: number) => Json[], hidden: readonly string[], resource?: Json[], scope?: Json): Promise<ReceivedEntry[]> {
  const proto = records('protobuf', 0);
  const json = records('json', proto.length);
  const sentProto = await post(`${r.url}/v1/logs`, protobufOf(exportRequest(proto, resource, scope)), 'application/x-protobuf');
  t.equal(sentProto.status, 200, `protobuf: ${sentProto.text}`);
  const sentJson = await post(`${r.url}/v1/logs`, JSON.stringify(exportRequest(json, resource, scope)), 'application/json');
  t.equal(sentJson.status, 200, `JSON: ${sentJson.text}`);
  const wal = await walBytes(r.root);
  for (const text of hidden) t.notOk(wal.includes(Buffer.from(text)), `the WAL does not hold ${JSON.stringify(text)}`);
  const flushed = await post(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=20`, undefined, undefined, ADMIN);
  t.equal(flushed.status, 200, flushed.text);
  await r.loki.waitFor(proto.length + json.length);
  const got = r.loki.received();
  const text = got.map((e) => JSON.stringify([e.line, e.labels, e.structuredMetadata])).join('\n');
  for (const h of hidden) t.notOk(text.includes(h), `Loki did not get ${JSON.stringify(h)}`);
  return got;
}

function timeNs(i: number): string {
  return (BigInt(Date.now() - 1000 + i) * 1_000_000n).toString();
}

const metadataOf = (entry: ReceivedEntry): Record<string, string> => entry.structuredMetadata;

t.test('OTLP integer and double values that hold a card number are masked as JSON numbers are, in attributes and bodies', async (t) => {
  const r = await run(t);
  const cards = (way: string): Json[] => [
    kv('v_int', { intValue: CARD_16 }),
    kv('v_int19', { intValue: CARD_19 }),
    kv('v_double', { doubleValue: Number(CARD_16) }),
    kv('v_double19', { doubleValue: Number(CARD_19) }),
    kv('nested', kvlist(kv('a', { doubleValue: Number(CARD_16) }), kv('b', { intValue: CARD_19 }))),
    kv('way', str(way)),
    kv('epoch_ms', { intValue: '1796231684448' }),
    kv('ratio', { doubleValue: 0.25 }),
  ];
  const got = await sendBoth(
    t,
    r,
    (way, i) => [
      { timeUnixNano: timeNs(i), body: str(`attributes ${way}`), attributes: cards(way) },
      { timeUnixNano: timeNs(i + 1), body: kvlist(kv('way', str(way)), kv('amount', { doubleValue: Number(CARD_19) }), kv('id', { intValue: CARD_16 })) },
      { timeUnixNano: timeNs(i + 2), body: array(str(way), { doubleValue: Number(CARD_16) }, { intValue: CARD_19 }) },
    ],
    [CARD_16.slice(0, 12), CARD_19.slice(0, 12), String(Number(CARD_19)).slice(0, 12)],
    [kv('service.name', str('shop')), kv('host.v', { doubleValue: Number(CARD_16) })],
    { name: 'scope', attributes: [kv('scope.v', { intValue: CARD_19 })] },
  );
  t.equal(got.length, 6);
  for (const entry of got.filter((e) => e.line.startsWith('attributes '))) {
    const m = metadataOf(entry);
    t.equal(m.v_int, '****1111');
    t.equal(m.v_int19, '****2008', 'an intValue is exact: the card keeps its own last 4');
    t.equal(m.v_double, '****1111');
    t.equal(m.v_double19, '****', 'a double past 2^53 is rounded: masked whole, as a JSON number is');
    t.equal(m.nested_a, '****1111');
    t.equal(m.nested_b, '****2008');
    t.equal(m.host_v, '****1111', 'resource attributes');
    t.equal(m.scope_v, '****2008', 'scope attributes');
    t.equal(m.epoch_ms, '1796231684448', 'an epoch-ms time is kept');
    t.equal(m.ratio, '0.25');
  }
  for (const way of ['protobuf', 'json']) {
    t.ok(got.some((e) => e.line === `{"amount":"****","id":"****1111","way":"${way}"}`), `${way}: a map body`);
    t.ok(got.some((e) => e.line === `["${way}","****1111","****2008"]`), `${way}: an array body`);
  }
});

t.test('an OTLP string body is masked exactly as the same text pushed as a Loki line, and attribute keys by their words alone', async (t) => {
  const r = await run(t, { masking: { exempt_keys: ['pagination.token'] } });
  const texts = [
    JSON.stringify({ user: 'bob', 'db.password': 'BodyDotted-1', auth: { 'client.secret': 'BodyDotted-2' } }),
    JSON.stringify([{ password: 'BodyArray-1' }, { 'x.api.key': 'BodyArray-2', page: 2 }]),
    `  [{"session.token":"BodyArray-3"}]`,
    JSON.stringify({ 'pagination.token': 'cursor-42', token: 'BodyToken-1' }),
    'login failed password=BodyText-1 card 4111 1111 1111 1111',
  ];
  const hidden = ['BodyDotted-1', 'BodyDotted-2', 'BodyArray-1', 'BodyArray-2', 'BodyArray-3', 'BodyToken-1', 'BodyText-1', 'AttrToken-1'];
  const got = await sendBoth(t, r, (way, i) =>
    texts.map((text, k) => ({
      timeUnixNano: timeNs(i + k),
      body: str(text),
      attributes: [kv('way', str(way)), kv('pagination.token', str('cursor-42')), kv('session.token', str('AttrToken-1'))],
    })),
    hidden,
  );
  const push = JSON.stringify({ streams: [{ stream: { app: 'push' }, values: texts.map((line, k) => [timeNs(100 + k), line]) }] });
  t.equal((await post(`${r.url}/loki/api/v1/push`, push, 'application/json')).status, 204);
  await post(`${r.url}/v1/admin/flush?wait=true&timeout_seconds=20`, undefined, undefined, ADMIN);
  await r.loki.waitFor(got.length + texts.length);
  const all = r.loki.received();
  const pushed = all.filter((e) => e.labels.app === 'push');
  t.equal(pushed.length, texts.length);
  for (const way of ['protobuf', 'json']) {
    const otlp = all.filter((e) => metadataOf(e).way === way);
    t.same(
      otlp.map((e) => e.line),
      pushed.map((e) => e.line),
      `${way}: the same lines as the push API's`,
    );
    for (const entry of otlp) {
      t.equal(metadataOf(entry).pagination_token, 'cursor-42', 'an exempt dotted key is kept, as on the other ways in');
      t.equal(metadataOf(entry).session_token, '****');
    }
  }
  t.match(pushed[3]!.line, '"pagination.token":"cursor-42"');
});

t.test('ids and times LogStack writes from client fields: valid ids and real times are kept, client digits elsewhere are masked', async (t) => {
  const r = await run(t);
  const now = timeNs(0);
  const got = await sendBoth(t, r, (way, i) => [
    // A span id of 8 bytes and a trace id of 16 are ids, whatever their hex digits spell.
    { timeUnixNano: timeNs(i), observedTimeUnixNano: now, flags: 4294967295, spanId: CARD_16, traceId: `0000000000000000${CARD_16}`, body: str(`valid ids ${way}`) },
    // Not a trace id of OTLP's length, and the observed time is not a time near now.
    { timeUnixNano: timeNs(i + 1), observedTimeUnixNano: CARD_16, traceId: CARD_16, body: str(`odd ids ${way}`) },
    { timeUnixNano: timeNs(i + 2), observedTimeUnixNano: CARD_19, body: str(`19 digits ${way}`) },
  ], [CARD_19.slice(0, 12)]);
  // The valid ids hold the 16 digits themselves: the other fields are checked one by one.
  for (const entry of got) {
    const m = metadataOf(entry);
    if (entry.line.startsWith('valid ids')) {
      t.equal(m.span_id, CARD_16, 'a span id of 8 bytes is kept');
      t.equal(m.trace_id, `0000000000000000${CARD_16}`, 'a trace id of 16 bytes is kept');
      t.equal(m.observed_timestamp, now, 'a real observed time is kept');
      t.equal(m.flags, '4294967295', 'flags are 32 bits: never a card');
    } else if (entry.line.startsWith('odd ids')) {
      t.equal(m.trace_id, '****1111', 'a trace id of 8 bytes is client text');
      t.equal(m.observed_timestamp, '****1111', 'an observed time of 1970 that spells a card');
    } else {
      t.equal(m.observed_timestamp, '****2008');
    }
  }
});

t.test('an OTLP map that names its value (name, then value) is masked by that name, in attributes and bodies', async (t) => {
  const r = await run(t);
  const envEntry = (secret: string): Json => kvlist(kv('name', str('DB_PASSWORD')), kv('value', str(secret)));
  const got = await sendBoth(
    t,
    r,
    (way, i) => [
      {
        timeUnixNano: timeNs(i),
        body: str(`named ${way}`),
        attributes: [kv('header', envEntry('NamedAttr-1')), kv('env', array(envEntry('NamedArray-1'), kvlist(kv('name', str('LOG_LEVEL')), kv('value', str('debug')))))],
      },
      { timeUnixNano: timeNs(i + 1), body: kvlist(kv('way', str(way)), kv('env', array(envEntry('NamedBody-1')))) },
    ],
    ['NamedAttr-1', 'NamedArray-1', 'NamedBody-1'],
  );
  const attributes = got.filter((e) => e.line.startsWith('named '));
  t.equal(attributes.length, 2);
  for (const entry of attributes) {
    t.equal(metadataOf(entry).header_name, 'DB_PASSWORD', 'the name is kept');
    t.equal(metadataOf(entry).header_value, '****');
    t.match(metadataOf(entry).env, '{"name":"LOG_LEVEL","value":"debug"}', 'a value named by an ordinary name is kept');
  }
});

t.test('under a name that also counts or switches (pass, session, auth), OTLP numbers and booleans stay as in metadata; text is masked', async (t) => {
  const r = await run(t);
  const got = await sendBoth(
    t,
    r,
    (way, i) => [
      {
        timeUnixNano: timeNs(i),
        body: kvlist(kv('way', str(way)), kv('session', { boolValue: true }), kv('auth', str('AuthBody-1'))),
        attributes: [kv('pass', { intValue: '120' }), kv('session', { boolValue: false }), kv('auth', str('AuthAttr-1'))],
      },
    ],
    ['AuthBody-1', 'AuthAttr-1'],
  );
  t.equal(got.length, 2);
  for (const entry of got) {
    t.same([metadataOf(entry).pass, metadataOf(entry).session, metadataOf(entry).auth], ['120', 'false', '****']);
    t.match(entry.line, /^\{"auth":"\*\*\*\*","session":true,"way":"(protobuf|json)"\}$/);
  }
});
