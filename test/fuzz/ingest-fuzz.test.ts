/**
 * Hostile bodies over the real ingest endpoint (real HTTP edge, pipeline and disk WAL). Whatever
 * comes in, the answer is a 4xx with our error body, or a 202 whose entries are exactly those the
 * WAL gained; the server answers /healthz after every case and its memory stays bounded.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import { applyHeapPolicy } from '../../src/cli/heap-policy.js';
import { gzipOfZeros } from '../support/gzip-bomb.js';
import { APP_TOKEN, entry, send, startServer, type Answer, type TestServer } from '../support/http-server.js';
import { fuzzSettings } from '../support/fuzz-settings.js';

// The heap growth the service runs with (logstack serve sets it): RSS is measured in this process.
applyHeapPolicy();

const fuzz = fuzzSettings({ seed: 20261122, runs: 150 });
const MAX_BODY_BYTES = 256 * 1024;
const TIMEOUT_SECONDS = 1;
const RSS_GROWTH_LIMIT = 150 * 1024 * 1024;
const PATH = '/v1/logs:ingest';

/** A body and what the contract allows for it. */
interface Case {
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
  /** Whether the body must be accepted (202), may be, or must be refused (a 4xx with our error body). */
  readonly accept: 'must' | 'may' | 'never';
  /** When only some 4xx fit: the `error` codes allowed. */
  readonly errors?: readonly string[];
  /** Entries of the body, when a 202 must accept exactly these. */
  readonly entries?: number;
}

function describe(c: Case): string {
  const body = Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body);
  const head = body.subarray(0, 160).toString('latin1');
  return `${body.length} bytes${c.headers === undefined ? '' : ` ${JSON.stringify(c.headers)}`}: ${JSON.stringify(head)}${body.length > 160 ? '…' : ''}`;
}

function contractError(what: string, c: Case | string, answer?: Answer): Error {
  const detail = typeof c === 'string' ? c : describe(c);
  const got = answer === undefined ? '' : `; got ${answer.status} ${answer.text.slice(0, 300)}`;
  return new Error(`${what} for ${detail}${got} (${fuzz.replay})`);
}

/** Our error body: a stable code, a message, the request id also sent as X-Request-ID. */
function checkErrorAnswer(answer: Answer, c: Case | string): void {
  const requestId = answer.headers['x-request-id'];
  if (answer.status < 400 || answer.status > 499) throw contractError(`status ${answer.status} is not a 4xx`, c, answer);
  if (typeof requestId !== 'string' || requestId === '') throw contractError('no X-Request-ID', c, answer);
  const json = answer.json as Record<string, unknown> | undefined;
  if (typeof json?.error !== 'string' || !/^[a-z][a-z_]*$/.test(json.error)) throw contractError('no stable `error` code', c, answer);
  if (typeof json.message !== 'string' || json.request_id !== requestId) throw contractError('no message, or a request_id unlike X-Request-ID', c, answer);
}

async function checkAlive(server: TestServer, c: Case | string): Promise<void> {
  const health = await send(server, '/healthz');
  if (health.status !== 200) throw contractError(`/healthz answered ${health.status} after the case`, c);
}

/** Sends `c` and throws unless the answer and the WAL keep the contract. */
async function exercise(server: TestServer, c: Case): Promise<Answer> {
  const wal = server.wal.token('app');
  const before = wal.stats().lastSeq;
  const answer = await send(server, PATH, { token: APP_TOKEN, body: c.body, ...(c.headers === undefined ? {} : { headers: c.headers }) });
  const grown = wal.stats().lastSeq - before;
  if (answer.status === 202) {
    if (c.accept === 'never') throw contractError('accepted a body that must be refused', c, answer);
    const accepted = (answer.json as { accepted?: unknown } | undefined)?.accepted;
    if (typeof accepted !== 'number' || accepted < 1 || (c.entries !== undefined && accepted !== c.entries)) throw contractError('a 202 with a wrong `accepted`', c, answer);
    if (grown !== accepted) throw contractError(`the WAL grew by ${grown} entries, not by the ${accepted} accepted`, c, answer);
  } else {
    if (c.accept === 'must') throw contractError('refused a valid body', c, answer);
    checkErrorAnswer(answer, c);
    if (c.errors !== undefined && !c.errors.includes(answer.json.error)) throw contractError(`error ${answer.json.error} is not one of ${c.errors.join(', ')}`, c, answer);
    if (grown !== 0) throw contractError(`a refused body added ${grown} entries to the WAL`, c, answer);
  }
  await checkAlive(server, c);
  return answer;
}

// --- bodies -----------------------------------------------------------------------------------

const labelSafe = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/);
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const metadataKey = fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !FORBIDDEN.has(k));
/** Keys a valid body must not hold at any depth (they have cases of their own below). */
const hasForbiddenKey = (value: unknown): boolean => /"(__proto__|constructor|prototype)":/.test(JSON.stringify(value));
const metadata = fc.dictionary(metadataKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }).filter((m) => !hasForbiddenKey(m));
const goodEntry = fc.record(
  {
    message: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
    service: labelSafe,
    env: labelSafe,
    level: fc.constantFrom('TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'),
    metadata,
  },
  { requiredKeys: ['message', 'service', 'env', 'level'] },
);
const goodBatch = fc.array(goodEntry, { minLength: 1, maxLength: 4 }).map((entries) => entries.map((e) => entry(e)));

/** Valid batches, plain or gzipped: accepted, every entry. */
const validCase = fc.tuple(goodBatch, fc.boolean()).map(([entries, gzip]): Case => {
  const text = JSON.stringify({ entries });
  return gzip
    ? { body: gzipSync(text), headers: { 'content-encoding': 'gzip' }, accept: 'must', entries: entries.length }
    : { body: text, accept: 'must', entries: entries.length };
});

/** Anything JSON, and any text at all. */
const randomJsonCase = fc.json({ maxDepth: 4 }).map((body): Case => ({ body, accept: 'may' }));
const randomTextCase = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme-ascii', maxLength: 300 })).map((body): Case => ({ body, accept: 'never' }));

/** A valid body cut short is never JSON. */
const truncatedCase = fc.tuple(goodBatch, fc.double({ min: 0, max: 1, noNaN: true })).map(([entries, cut]): Case => {
  const text = JSON.stringify({ entries });
  return { body: text.slice(0, Math.floor(cut * (text.length - 1))), accept: 'never', errors: ['invalid_json', 'validation_failed'] };
});

/** Every field of an entry (and the body) holding any JSON type. */
const FIELDS = ['timestamp', 'level', 'message', 'service', 'env', 'metadata', 'entries', 'extra'] as const;
const mixedTypesCase = fc.tuple(fc.subarray([...FIELDS], { minLength: 1 }), fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: FIELDS.length, maxLength: FIELDS.length })).map(
  ([fields, values]): Case => {
    const e: Record<string, unknown> = entry({ metadata: { order: 'A-1' } });
    const body: Record<string, unknown> = { entries: [e] };
    fields.forEach((field, i) => {
      if (field === 'entries') body.entries = values[i];
      else if (field === 'extra') body.extra = values[i];
      else e[field] = values[i];
    });
    return { body: JSON.stringify(body), accept: 'may' };
  },
);

/** `__proto__`, `constructor`, `prototype` as a key anywhere: refused, and nothing is polluted. */
const PLACEHOLDER = '"@@KEY@@"';
/** PLACEHOLDER as JSON.stringify writes it, key or value. */
const SLOT = JSON.stringify(PLACEHOLDER);
const protoCase = fc
  .tuple(
    fc.constantFrom('__proto__', 'constructor', 'prototype'),
    fc.constantFrom('body', 'entry', 'metadata', 'nested', 'in-array'),
    fc.constantFrom('{}', '{"polluted": true}', '{"prototype": {"polluted": true}}', '1', '"x"', 'null', '[{"polluted": true}]'),
  )
  .map(([key, where, value]): Case => {
    const meta =
      where === 'metadata' ? { [PLACEHOLDER]: 0 } : where === 'nested' ? { a: { b: { [PLACEHOLDER]: 0 } } } : where === 'in-array' ? { list: [1, { [PLACEHOLDER]: 0 }] } : { ok: 1 };
    const e: Record<string, unknown> = entry({ metadata: meta });
    if (where === 'entry') e[PLACEHOLDER] = 0;
    const body: Record<string, unknown> = { entries: [e] };
    if (where === 'body') body[PLACEHOLDER] = 0;
    const text = JSON.stringify(body).replace(`${SLOT}:0`, `"${key}":${value}`);
    if (text.includes('@@KEY@@')) throw new Error('placeholder not replaced');
    return { body: text, accept: 'never', errors: ['invalid_json', 'validation_failed'] };
  });

/** Numbers at the edges, and number-like text that is not JSON, in every field. */
const NUMBERS = ['1e308', '-1e308', '1e309', '-1e309', '-0', '0', '9007199254740993', '-9007199254740993', '1e-400', '4111111111111111', '123456789012345678901234567890'];
const NOT_NUMBERS = ['NaN', 'Infinity', '-Infinity', '0x1F', '01', '1.', '.5', '+1', '1e', '--1'];
const numberCase = fc
  .tuple(fc.constantFrom(...NUMBERS, ...NOT_NUMBERS), fc.constantFrom('timestamp', 'level', 'message', 'service', 'metadata', 'deep-metadata', 'entries'))
  .map(([number, where]): Case => {
    const meta = where === 'metadata' ? { n: PLACEHOLDER } : where === 'deep-metadata' ? { a: [{ n: PLACEHOLDER }] } : { ok: 1 };
    const e: Record<string, unknown> = entry({ metadata: meta });
    if (where !== 'metadata' && where !== 'deep-metadata' && where !== 'entries') e[where] = PLACEHOLDER;
    const body = where === 'entries' ? { entries: PLACEHOLDER } : { entries: [e] };
    const text = JSON.stringify(body).replace(SLOT, number);
    // Only a JSON number in metadata makes a valid entry.
    const valid = NUMBERS.includes(number) && (where === 'metadata' || where === 'deep-metadata');
    return valid ? { body: text, accept: 'must', entries: 1 } : { body: text, accept: 'never', errors: ['invalid_json', 'validation_failed'] };
  });

/** Bytes that are not UTF-8 (and raw control bytes) inside strings, keys and between tokens. */
const BAD_BYTES = [[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0x00], [0x1b]];
const invalidUtf8Case = fc.tuple(fc.constantFrom(...BAD_BYTES), fc.constantFrom('message', 'metadata-value', 'metadata-key', 'service', 'between')).map(([bytes, where]): Case => {
  const marker = '@@BYTES@@';
  const meta = where === 'metadata-value' ? { v: marker } : where === 'metadata-key' ? { [marker]: 1 } : { ok: 1 };
  const e = entry({ metadata: meta, ...(where === 'message' ? { message: `before ${marker} after` } : {}), ...(where === 'service' ? { service: marker } : {}) });
  const text = where === 'between' ? JSON.stringify({ entries: [e] }).replace('{"entries"', `{${marker}"entries"`) : JSON.stringify({ entries: [e] });
  const [head = '', tail = ''] = text.split(marker);
  return { body: Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]), accept: 'may' };
});

/** Arrays and objects nested 1000 to 100000 deep, as the body, the entries, a message or metadata. */
const deepCase = fc.tuple(fc.integer({ min: 1000, max: 100_000 }), fc.constantFrom('[', '{"a":'), fc.constantFrom('body', 'entries', 'message', 'metadata')).map(
  ([depth, open, where]): Case => {
    const close = open === '[' ? ']' : '}';
    const nested = open.repeat(depth) + (open === '[' ? '' : '1') + close.repeat(depth);
    const e = JSON.stringify(entry({ [where === 'message' ? 'message' : 'metadata']: PLACEHOLDER }));
    const text =
      where === 'body' ? nested : where === 'entries' ? `{"entries":${nested}}` : `{"entries":[${e.replace(SLOT, where === 'metadata' ? `{"deep":${nested}}` : nested)}]}`;
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) return { body: text, accept: 'never', errors: ['payload_too_large'] };
    return { body: text, accept: 'never', errors: ['invalid_json', 'validation_failed'] };
  },
);

/** A message that makes the body a few bytes under, at or over max_body_bytes, in 1 to 4 byte characters. */
const hugeCase = fc.tuple(fc.integer({ min: -16, max: 16 }), fc.constantFrom('x', 'é', '€', '😀'), fc.boolean()).map(([delta, char, gzip]): Case => {
  const skeleton = JSON.stringify({ entries: [entry({ message: '' })] });
  const room = MAX_BODY_BYTES - Buffer.byteLength(skeleton) + delta;
  const charBytes = Buffer.byteLength(char);
  const text = JSON.stringify({ entries: [entry({ message: char.repeat(Math.floor(room / charBytes)) + 'x'.repeat(room % charBytes) })] });
  const fits = Buffer.byteLength(text) <= MAX_BODY_BYTES;
  const headers = gzip ? { 'content-encoding': 'gzip' } : undefined;
  return {
    body: gzip ? gzipSync(text) : text,
    ...(headers === undefined ? {} : { headers }),
    ...(fits ? { accept: 'must', entries: 1 } : { accept: 'never', errors: ['payload_too_large'] }),
  };
});

/** gzip of a valid batch, cut short or with a flipped byte. */
const brokenGzipCase = fc.tuple(goodBatch, fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), fc.nat()).map(([entries, cut, flip, at]): Case => {
  const gzipped = gzipSync(JSON.stringify({ entries }));
  const body = flip ? Buffer.from(gzipped) : gzipped.subarray(0, Math.floor(cut * (gzipped.length - 1)));
  // A flipped byte may land in a header field gunzip ignores (mtime, OS): then it is still the batch.
  const flipped = at % body.length;
  if (flip) body[flipped] = body[flipped]! ^ 0xff;
  return { body, headers: { 'content-encoding': 'gzip' }, accept: flip ? 'may' : 'never', ...(flip ? { entries: entries.length } : { errors: ['invalid_content_encoding', 'invalid_json'] }) };
});

// --- raw sockets --------------------------------------------------------------------------------

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly json: any;
  readonly text: string;
}

function parseRaw(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const text = raw.slice(end + 4);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, json, text };
}

/**
 * Writes `head`, then `drip` one chunk every `everyMs` until the server answers and closes.
 * Rejects if nothing comes back within `hangAfterMs`: the case would have hung the server.
 */
async function rawExchange(server: TestServer, head: string | Buffer, options: { drip?: string; everyMs?: number; hangAfterMs: number }): Promise<RawAnswer> {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  socket.write(head);
  const dripper = options.drip === undefined ? undefined : setInterval(() => socket.writable && socket.write(options.drip!), options.everyMs ?? 50);
  const hang = setTimeout(() => socket.destroy(new Error('hang')), options.hangAfterMs);
  await once(socket, 'close');
  clearInterval(dripper);
  clearTimeout(hang);
  if (chunks.length === 0) throw new Error(`no answer within ${options.hangAfterMs} ms: the request hung (${fuzz.replay})`);
  return parseRaw(Buffer.concat(chunks).toString('utf8'));
}

function requestHead(headers: Record<string, string | number>): string {
  const lines = [`POST ${PATH} HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${APP_TOKEN}`, 'Content-Type: application/json'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

// --- the campaign -------------------------------------------------------------------------------

t.test(`hostile input over the ingest endpoint (seed ${fuzz.seed}, ${fuzz.runs} runs per kind)`, async (t) => {
  const server = await startServer(t, {
    config: { limits: { max_body_bytes: MAX_BODY_BYTES, max_message_bytes: 4 * MAX_BODY_BYTES }, server: { request_timeout_seconds: TIMEOUT_SECONDS } },
  });
  await exercise(server, { body: JSON.stringify({ entries: [entry()] }), accept: 'may', entries: 1 });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let tried = 0;

  const kinds: Array<[string, fc.Arbitrary<Case>, number]> = [
    ['valid batches, plain and gzipped', validCase, 1],
    ['random JSON', randomJsonCase, 1],
    ['random text', randomTextCase, 1],
    ['valid bodies cut short', truncatedCase, 1],
    ['every field of every type', mixedTypesCase, 1],
    ['__proto__, constructor and prototype keys anywhere', protoCase, 0.5],
    ['numbers at the edges', numberCase, 1],
    ['bytes that are not UTF-8', invalidUtf8Case, 1],
    ['nesting 1000 to 100000 deep', deepCase, 0.5],
    ['bodies at max_body_bytes', hugeCase, 0.5],
    ['truncated and corrupt gzip', brokenGzipCase, 1],
  ];
  for (const [kind, arbitrary, share] of kinds) {
    t.test(kind, async (t) => {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (c) => {
          tried++;
          await exercise(server, c);
        }),
        fuzz.params(share),
      );
      t.pass(`${Math.max(1, Math.round(fuzz.runs * share))} bodies kept the contract`);
    });
  }

  t.test('no key of a body reaches Object.prototype', async (t) => {
    t.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  });

  t.test('gzip bombs are cut off at max_body_bytes, not inflated', async (t) => {
    const bomb = await gzipOfZeros(200 * 1024 * 1024);
    t.ok(bomb.length < MAX_BODY_BYTES, `${bomb.length} bytes on the wire inflate to 200 MiB`);
    tried++;
    await exercise(server, { body: bomb, headers: { 'content-encoding': 'gzip' }, accept: 'never', errors: ['payload_too_large'] });

    // gzip members back to back are one body to gunzip: ~3 MB that would inflate to 3 GiB, sent
    // chunked so that no Content-Length refuses it up front.
    const member = await gzipOfZeros(100 * 1024 * 1024);
    const members = Buffer.concat(Array.from({ length: Math.ceil((3 * 1024 * 1024) / member.length) }, () => member));
    const chunked = Buffer.concat([Buffer.from(requestHead({ 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked' })), Buffer.from(`${members.length.toString(16)}\r\n`), members, Buffer.from('\r\n0\r\n\r\n')]);
    tried++;
    const answer = await rawExchange(server, chunked, { hangAfterMs: (TIMEOUT_SECONDS + 10) * 1000 });
    t.equal(answer.status, 413, `${members.length} bytes of gzip members`);
    checkErrorAnswer(answer, 'chunked gzip members');
    await checkAlive(server, 'chunked gzip members');
  });

  t.test('a body dribbled byte by byte ends in 408 request_timeout, not a hang', async (t) => {
    tried++;
    const answer = await rawExchange(server, requestHead({ 'Content-Length': 100_000 }) + '{"entries": [', {
      drip: ' ',
      everyMs: 50,
      hangAfterMs: (TIMEOUT_SECONDS + 10) * 1000,
    });
    t.equal(answer.status, 408);
    t.equal(answer.json?.error, 'request_timeout');
    checkErrorAnswer(answer, 'a dribbled body');
    await checkAlive(server, 'a dribbled body');
  });

  t.test('Content-Length that lies', async (t) => {
    const body = JSON.stringify({ entries: [entry()] });
    const before = server.wal.token('app').stats().lastSeq;

    tried++;
    const longer = await rawExchange(server, requestHead({ 'Content-Length': Buffer.byteLength(body) + 100 }) + body, { hangAfterMs: (TIMEOUT_SECONDS + 10) * 1000 });
    t.equal(longer.status, 408, 'longer than sent: the rest never comes');
    checkErrorAnswer(longer, 'Content-Length longer than the body');
    await checkAlive(server, 'Content-Length longer than the body');

    tried++;
    const shorter = await rawExchange(server, requestHead({ 'Content-Length': 20, Connection: 'close' }) + body, { hangAfterMs: (TIMEOUT_SECONDS + 10) * 1000 });
    // The first 20 bytes are no JSON, the rest is no HTTP request; which answer wins is a race.
    t.equal(shorter.status, 400, 'shorter than sent: only its first 20 bytes are the body');
    t.ok(['invalid_json', 'bad_request'].includes(shorter.json?.error), `error ${shorter.json?.error}`);
    checkErrorAnswer(shorter, 'Content-Length shorter than the body');
    await checkAlive(server, 'Content-Length shorter than the body');

    t.equal(server.wal.token('app').stats().lastSeq, before, 'neither lie wrote anything');
  });

  t.test('memory stays bounded', async (t) => {
    global.gc?.();
    const grown = process.memoryUsage().rss - rssBefore;
    t.ok(grown < RSS_GROWTH_LIMIT, `RSS grew by ${Math.round(grown / 1024 / 1024)} MiB over ${tried} hostile requests (${fuzz.replay})`);
  });
});
