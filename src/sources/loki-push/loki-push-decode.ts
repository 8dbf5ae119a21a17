/**
 * Loki push bodies, decoded into a LokiPushRequest: `logproto.PushRequest` protobuf (after
 * snappy), the JSON of `/loki/api/v1/push`, and the legacy JSON of `/api/prom/push`. These check
 * the body's shape only, and throw LOKI_PUSH_UNDECODABLE at the first thing that is not a push
 * request, saying where; Loki's limits are checked afterwards (loki-push-validate.ts).
 *
 * Like Loki, unknown fields are skipped, so newer clients keep working.
 */
import { logstackError } from '../../errors.js';
import type { LabelPairs } from '../../loki/entry.js';
import { ProtobufReader, WIRE_LEN, WIRE_VARINT } from '../../loki/protobuf-wire.js';
import { parseTimestamp } from '../../pipeline/timestamp.js';
import type { LokiPushRequest, PushEntry, PushStream } from './loki-push-request.js';

function undecodable(where: string, reason: string): Error {
  return logstackError('LOKI_PUSH_UNDECODABLE', [`${where} ${reason}`]);
}

/**
 * How much of a push is decoded: past the entries or streams bound decoding stops, and the push
 * is refused; past the pairs bound an entry's further pairs are counted, not decoded.
 */
export interface PushBounds {
  /** Entries of all streams (`loki_push.max_entries_per_push`). */
  readonly maxEntries: number;
  /** `loki_push.max_streams_per_push`. */
  readonly maxStreams: number;
  /** Structured metadata pairs of an entry (`limits.max_metadata_keys`): one more is decoded, to be refused. */
  readonly maxMetadataPairs: number;
}

/** Counts streams and entries as they are decoded; throws 413 at the first one past its bound. */
class PushCounter {
  streams = 0;
  entries = 0;
  readonly #bounds: PushBounds;

  constructor(bounds: PushBounds) {
    this.#bounds = bounds;
  }

  addStream(): void {
    if (++this.streams > this.#bounds.maxStreams) throw logstackError('LOKI_PUSH_TOO_MANY_STREAMS', [this.#bounds.maxStreams]);
  }

  /** Checked before the entries are decoded, when their number is known (JSON). */
  addEntries(count: number): void {
    this.entries += count;
    if (this.entries > this.#bounds.maxEntries) throw logstackError('LOKI_PUSH_TOO_MANY_ENTRIES', [this.#bounds.maxEntries]);
  }
}

// --- protobuf ------------------------------------------------------------------------------
// logproto (grafana/loki pkg/push/push.proto): PushRequest {streams = 1}; StreamAdapter
// {labels = 1, entries = 2, hash = 3}; EntryAdapter {timestamp = 1, line = 2,
// structuredMetadata = 3, parsed = 4}; google.protobuf.Timestamp {seconds = 1, nanos = 2};
// LabelPairAdapter {name = 1, value = 2}. `parsed` is filled by Loki's queriers, not by clients.

/** A known field with another wire type is malformed, as Go's generated decoder says. */
function expectWire(wire: number, expected: number, where: string): void {
  if (wire !== expected) throw undecodable(where, `has wire type ${wire}, expected ${expected}`);
}

/** `where` is built only for an error: a push may hold millions of pairs. */
function decodeLabelPair(reader: ProtobufReader, where: () => string): readonly [string, string] {
  let name = '';
  let value = '';
  while (!reader.done) {
    const tag = reader.tag();
    const field = tag >>> 3;
    if (field === 1 || field === 2) {
      if ((tag & 7) !== WIRE_LEN) expectWire(tag & 7, WIRE_LEN, where());
      if (field === 1) name = reader.string();
      else value = reader.string();
    } else {
      reader.skip(tag & 7);
    }
  }
  return [name, value];
}

/** The pairs kept of an entry, and how many were sent when that is more. */
function withCount(structuredMetadata: LabelPairs, sent: number): Pick<PushEntry, 'structuredMetadata' | 'structuredMetadataCount'> {
  return sent > structuredMetadata.length ? { structuredMetadata, structuredMetadataCount: sent } : { structuredMetadata };
}

function decodeEntry(reader: ProtobufReader, where: string, maxMetadataPairs: number): PushEntry {
  let seconds = 0;
  let nanos = 0;
  let line = '';
  const structuredMetadata: Array<readonly [string, string]> = [];
  let structuredMetadataCount = 0;
  while (!reader.done) {
    const tag = reader.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1) {
      expectWire(wire, WIRE_LEN, `${where}.timestamp`);
      const [start, end] = reader.lengthDelimited();
      const ts = new ProtobufReader(reader.buf, start, end);
      while (!ts.done) {
        const t = ts.tag();
        const tsField = t >>> 3;
        if (tsField !== 1 && tsField !== 2) {
          ts.skip(t & 7);
          continue;
        }
        expectWire(t & 7, WIRE_VARINT, `${where}.timestamp`);
        // A negative seconds or nanos is a 10-byte varint beyond 2^53: ProtobufReader refuses it.
        if (tsField === 1) seconds = ts.varint();
        else nanos = ts.varint();
      }
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, `${where}.line`);
      line = reader.string();
    } else if (field === 3) {
      if (wire !== WIRE_LEN) expectWire(wire, WIRE_LEN, `${where}.structuredMetadata`);
      // Past the bound the entry is refused for its count: the rest are counted, not decoded.
      if (++structuredMetadataCount > maxMetadataPairs + 1) {
        reader.skip(WIRE_LEN);
        continue;
      }
      const [start, end] = reader.lengthDelimited();
      const pair = structuredMetadata.length;
      structuredMetadata.push(decodeLabelPair(new ProtobufReader(reader.buf, start, end), () => `${where}.structuredMetadata[${pair}]`));
    } else {
      reader.skip(wire);
    }
  }
  return { seconds, nanos, line, ...withCount(structuredMetadata, structuredMetadataCount) };
}

function decodeStream(reader: ProtobufReader, where: string, counter: PushCounter, maxMetadataPairs: number): PushStream {
  let labels = '';
  const entries: PushEntry[] = [];
  while (!reader.done) {
    const tag = reader.tag();
    const field = tag >>> 3;
    if (field === 1) {
      expectWire(tag & 7, WIRE_LEN, `${where}.labels`);
      labels = reader.string();
    } else if (field === 2) {
      expectWire(tag & 7, WIRE_LEN, `${where}.entries`);
      counter.addEntries(1);
      const [start, end] = reader.lengthDelimited();
      entries.push(decodeEntry(new ProtobufReader(reader.buf, start, end), `${where}.entries[${entries.length}]`, maxMetadataPairs));
    } else {
      reader.skip(tag & 7);
    }
  }
  return { labels, entries };
}

/** A `logproto.PushRequest`, already uncompressed; decoding stops past `bounds`. */
export function decodeProtobufPush(bytes: Buffer, bounds: PushBounds): LokiPushRequest {
  const streams: PushStream[] = [];
  const counter = new PushCounter(bounds);
  try {
    const reader = new ProtobufReader(bytes);
    while (!reader.done) {
      const tag = reader.tag();
      if (tag >>> 3 === 1) {
        expectWire(tag & 7, WIRE_LEN, 'streams');
        counter.addStream();
        const [start, end] = reader.lengthDelimited();
        streams.push(decodeStream(new ProtobufReader(bytes, start, end), `streams[${streams.length}]`, counter, bounds.maxMetadataPairs));
      } else {
        reader.skip(tag & 7);
      }
    }
  } catch (err) {
    if (err instanceof RangeError) throw logstackError('LOKI_PUSH_UNDECODABLE', [`truncated or malformed protobuf (${err.message.replace(/^protobuf: /, '')})`]);
    throw err;
  }
  return { streams, entries: counter.entries };
}

// --- JSON ----------------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object of string values (labels, structured metadata) as pairs, the first `maxPairs` of them. */
function stringPairs(value: unknown, where: string, maxPairs = Infinity): LabelPairs {
  if (!isObject(value)) throw undecodable(where, 'must be an object of strings');
  const pairs: Array<readonly [string, string]> = [];
  for (const name in value) {
    if (!Object.hasOwn(value, name)) continue;
    if (pairs.length === maxPairs) break;
    const v = value[name];
    if (typeof v !== 'string') throw undecodable(`${where}.${name.length > 64 ? '…' : name}`, 'must be a string');
    pairs.push([name, v]);
  }
  return pairs;
}

const NANOSECONDS = /^\d{1,19}$/;

/** `"1700000000123456789"` → seconds and nanoseconds, exactly (the number is beyond 2^53). */
function epochNanoseconds(text: unknown, where: string): { seconds: number; nanos: number } {
  if (typeof text !== 'string' || !NANOSECONDS.test(text)) throw undecodable(where, 'must be a string of nanoseconds since the epoch');
  if (text.length <= 9) return { seconds: 0, nanos: Number(text) };
  return { seconds: Number(text.slice(0, -9)), nanos: Number(text.slice(-9)) };
}

/** The body's streams, refused past `counter`'s bound before any is decoded. */
function streamsOf(body: unknown, counter: PushCounter): unknown[] {
  if (!isObject(body) || !Array.isArray(body.streams)) throw undecodable('the body', 'must be an object {"streams": [...]}');
  for (let s = 0; s < body.streams.length; s++) counter.addStream();
  return body.streams;
}

/** `{"streams": [{"stream": {labels}, "values": [["<ns>", "<line>", {metadata}?], ...]}]}`; decoding stops past `bounds`. */
export function decodeJsonPush(body: unknown, bounds: PushBounds): LokiPushRequest {
  const counter = new PushCounter(bounds);
  const streams = streamsOf(body, counter).map((raw, s): PushStream => {
    const where = `streams[${s}]`;
    if (!isObject(raw)) throw undecodable(where, 'must be an object');
    const labels = raw.stream === undefined ? [] : stringPairs(raw.stream, `${where}.stream`);
    const values = raw.values ?? [];
    if (!Array.isArray(values)) throw undecodable(`${where}.values`, 'must be an array');
    counter.addEntries(values.length);
    const streamEntries = values.map((value: unknown, e): PushEntry => {
      const at = `${where}.values[${e}]`;
      if (!Array.isArray(value) || value.length < 2) throw undecodable(at, 'must be ["<nanoseconds>", "<line>"] or ["<nanoseconds>", "<line>", {structured metadata}]');
      const [ts, line, metadata] = value as unknown[];
      if (typeof line !== 'string') throw undecodable(`${at}[1]`, 'must be a string');
      if (metadata === undefined || metadata === null) return { ...epochNanoseconds(ts, `${at}[0]`), line, structuredMetadata: [] };
      const structuredMetadata = stringPairs(metadata, `${at}[2]`, bounds.maxMetadataPairs + 1);
      const sent = structuredMetadata.length > bounds.maxMetadataPairs ? Object.keys(metadata as object).length : structuredMetadata.length;
      return { ...epochNanoseconds(ts, `${at}[0]`), line, ...withCount(structuredMetadata, sent) };
    });
    return { labels, entries: streamEntries };
  });
  return { streams, entries: counter.entries };
}

/**
 * `logproto` as JSON, Loki's format on `/api/prom/push`: `{"streams": [{"labels": "{...}",
 * "entries": [{"ts": "<RFC 3339>", "line": "..."}]}]}`; decoding stops past `bounds`.
 */
export function decodeLegacyJsonPush(body: unknown, bounds: PushBounds): LokiPushRequest {
  const counter = new PushCounter(bounds);
  const streams = streamsOf(body, counter).map((raw, s): PushStream => {
    const where = `streams[${s}]`;
    if (!isObject(raw)) throw undecodable(where, 'must be an object');
    if (typeof raw.labels !== 'string') throw undecodable(`${where}.labels`, 'must be a string like {app="shop"}');
    const list = raw.entries ?? [];
    if (!Array.isArray(list)) throw undecodable(`${where}.entries`, 'must be an array');
    counter.addEntries(list.length);
    const streamEntries = list.map((entry: unknown, e): PushEntry => {
      const at = `${where}.entries[${e}]`;
      if (!isObject(entry)) throw undecodable(at, 'must be an object {"ts", "line"}');
      if (typeof entry.ts !== 'string') throw undecodable(`${at}.ts`, 'must be an RFC 3339 timestamp');
      const ts = parseTimestamp(entry.ts);
      if (!ts.ok) throw undecodable(`${at}.ts`, ts.reason);
      if (ts.seconds < 0) throw undecodable(`${at}.ts`, 'is before 1970-01-01T00:00:00Z');
      if (typeof entry.line !== 'string') throw undecodable(`${at}.line`, 'must be a string');
      const metadata = entry.structuredMetadata ?? [];
      if (!Array.isArray(metadata)) throw undecodable(`${at}.structuredMetadata`, 'must be an array of {"name", "value"}');
      const structuredMetadata = metadata.slice(0, bounds.maxMetadataPairs + 1).map((pair: unknown, p): readonly [string, string] => {
        if (!isObject(pair) || typeof pair.name !== 'string' || typeof pair.value !== 'string') {
          throw undecodable(`${at}.structuredMetadata[${p}]`, 'must be {"name": "...", "value": "..."}');
        }
        return [pair.name, pair.value];
      });
      return { seconds: ts.seconds, nanos: ts.nanos, line: entry.line, ...withCount(structuredMetadata, metadata.length) };
    });
    return { labels: raw.labels, entries: streamEntries };
  });
  return { streams, entries: counter.entries };
}
