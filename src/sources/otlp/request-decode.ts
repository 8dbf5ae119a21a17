/**
 * An OTLP/HTTP logs body, decoded: `application/x-protobuf` (binary) by protobufjs, or
 * `application/json` (OTLP's JSON, read by otlp-json.ts into the same messages), both by the
 * vendored definitions; unknown fields are skipped, as the specification asks of receivers.
 *
 * The log records are counted before the body is decoded into objects: decoding allocates a few
 * dozen bytes for each message of the body, so the count bound is checked before that is paid.
 * Counting walks three levels of the wire format and allocates nothing.
 */
import { describeJsonError } from '../../http/body.js';
import { clientText } from '../../http/client-text.js';
import { logstackError } from '../../errors.js';
import { ProtobufReader, WIRE_LEN } from '../../loki/protobuf-wire.js';
import { requestFromJson } from './otlp-json.js';
import { ExportLogsServiceRequest, type ExportLogsRequest } from './otlp-proto.js';

export type OtlpFormat = 'protobuf' | 'json';

export interface DecodedRequest {
  readonly request: ExportLogsRequest;
  /** Log records in the request. */
  readonly records: number;
}

/** The body's encoding by its Content-Type; throws 415 for anything else. */
export function otlpFormat(contentType: string | undefined): OtlpFormat {
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  throw logstackError('OTLP_UNSUPPORTED_MEDIA_TYPE', [contentType === undefined ? '(none)' : clientText(contentType)]);
}

function undecodable(reason: string, cause?: unknown): Error {
  return logstackError('OTLP_UNDECODABLE', [reason], cause === undefined ? undefined : { cause });
}

function tooMany(max: number): Error {
  return logstackError('OTLP_TOO_MANY_RECORDS', [max]);
}

/** The length-delimited fields numbered `field` in [start, end), as [start, end) pairs. */
function* fields(buf: Buffer, start: number, end: number, field: number): Generator<[number, number]> {
  const reader = new ProtobufReader(buf, start, end);
  while (!reader.done) {
    const tag = reader.varint();
    if (tag >>> 3 === field && (tag & 7) === WIRE_LEN) yield reader.lengthDelimited();
    else reader.skip(tag & 7);
  }
}

/**
 * Log records of a binary ExportLogsServiceRequest: resource_logs = 1 → scope_logs = 2 →
 * log_records = 2. Stops counting past `max`. Throws RangeError for a malformed body.
 */
export function countLogRecords(bytes: Buffer, max: number): number {
  let records = 0;
  for (const [rs, re] of fields(bytes, 0, bytes.length, 1)) {
    for (const [ss, se] of fields(bytes, rs, re, 2)) {
      for (const _ of fields(bytes, ss, se, 2)) if (++records > max) return records;
    }
  }
  return records;
}

function decodeProtobuf(bytes: Buffer, maxRecords: number): DecodedRequest {
  let records: number;
  let request: ExportLogsRequest;
  try {
    records = countLogRecords(bytes, maxRecords);
  } catch (err) {
    throw undecodable(`it is not valid protobuf (${(err as Error).message})`, err);
  }
  if (records > maxRecords) throw tooMany(maxRecords);
  try {
    request = ExportLogsServiceRequest.decode(bytes) as unknown as ExportLogsRequest;
  } catch (err) {
    // protobufjs says what and where (offset, wire type, depth), never the bytes.
    throw undecodable(`it is not an ExportLogsServiceRequest (${(err as Error).message})`, err);
  }
  return { request, records };
}

function decodeJson(bytes: Buffer, maxRecords: number): DecodedRequest {
  const text = bytes.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw undecodable(`it is not JSON: ${describeJsonError(text)}`);
  }
  return requestFromJson(json, maxRecords);
}

/**
 * The request in `bytes` (already inflated). Throws OTLP_UNDECODABLE (400) or
 * OTLP_TOO_MANY_RECORDS (413).
 */
export function decodeOtlpRequest(bytes: Buffer, format: OtlpFormat, maxRecords: number): DecodedRequest {
  return format === 'protobuf' ? decodeProtobuf(bytes, maxRecords) : decodeJson(bytes, maxRecords);
}
