/**
 * An OTLP/HTTP logs body, decoded: `application/x-protobuf` (binary) by protobufjs, or
 * `application/json` (OTLP's JSON, read by otlp-json.ts into the same messages), both by the
 * vendored definitions; unknown fields are skipped, as the specification asks of receivers.
 *
 * Nothing is decoded before its cost is charged (decode-cost.ts): the log records are counted
 * and the messages weighed on the wire, JSON's values before JSON.parse makes them.
 */
import { describeJsonError } from '../../http/body.js';
import { clientText } from '../../http/client-text.js';
import { jsonParseCost } from '../../http/json-parse-cost.js';
import { logstackError } from '../../errors.js';
import { protobufCost, type ProtobufCost } from './decode-cost.js';
import { requestFromJson, type Charge } from './otlp-json.js';
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

function decodeProtobuf(bytes: Buffer, maxRecords: number, charge: Charge): DecodedRequest {
  let cost: ProtobufCost;
  let request: ExportLogsRequest;
  try {
    cost = protobufCost(bytes, maxRecords);
  } catch (err) {
    throw undecodable(`it is not valid protobuf (${(err as Error).message})`, err);
  }
  if (cost.records > maxRecords) throw tooMany(maxRecords);
  charge(cost.bytes);
  try {
    request = ExportLogsServiceRequest.decode(bytes) as unknown as ExportLogsRequest;
  } catch (err) {
    // protobufjs says what and where (offset, wire type, depth), never the bytes.
    throw undecodable(`it is not an ExportLogsServiceRequest (${(err as Error).message})`, err);
  }
  return { request, records: cost.records };
}

function decodeJson(bytes: Buffer, maxRecords: number, charge: Charge): DecodedRequest {
  charge(jsonParseCost(bytes));
  const text = bytes.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw undecodable(`it is not JSON: ${describeJsonError(text)}`);
  }
  return requestFromJson(json, maxRecords, charge);
}

/**
 * The request in `bytes` (already inflated), what decoding holds charged before it is held.
 * Throws OTLP_UNDECODABLE (400), OTLP_TOO_MANY_RECORDS (413), or what `charge` throws.
 */
export function decodeOtlpRequest(bytes: Buffer, format: OtlpFormat, maxRecords: number, charge: Charge): DecodedRequest {
  return format === 'protobuf' ? decodeProtobuf(bytes, maxRecords, charge) : decodeJson(bytes, maxRecords, charge);
}
