/**
 * What `POST /v1/logs` answers, as the OTLP/HTTP specification has it, encoded like the request
 * (protobuf, or OTLP's JSON):
 *
 * - `200` with an `ExportLogsServiceResponse`: empty when every record was accepted, with a
 *   `partial_success` (`rejected_log_records`, `error_message`) when some were refused. The
 *   exporters do not retry it.
 * - every other status with a `google.rpc.Status`: its `message`, the gRPC code nearest to the
 *   HTTP status, and in `details` an `ErrorInfo` whose `reason` is LogStack's stable `error`
 *   code (docs/errors.md) with the request id; a `400` also carries a `BadRequest`. Exporters
 *   retry 429, 502, 503 and 504 only, honouring `Retry-After`.
 */
import type { ErrorBody } from '../../http/error-handler.js';
import { BadRequest, ErrorInfo, ExportLogsServiceResponse, RpcStatus } from './otlp-proto.js';
import type { OtlpFormat } from './request-decode.js';

export interface EncodedAnswer {
  readonly contentType: string;
  readonly body: Buffer | string;
}

const ERROR_DOMAIN = 'logstack';
const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** google.rpc.Code for an HTTP status, as gRPC maps them the other way round. */
export function grpcCode(status: number): number {
  switch (status) {
    case 400:
    case 415:
      return 3; // INVALID_ARGUMENT
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 5; // NOT_FOUND
    case 405:
      return 12; // UNIMPLEMENTED
    case 408:
    case 504:
      return 4; // DEADLINE_EXCEEDED
    case 413:
    case 429:
    case 431:
      return 8; // RESOURCE_EXHAUSTED
    case 503:
      return 14; // UNAVAILABLE
    default:
      return status >= 500 ? 13 : 2; // INTERNAL, UNKNOWN
  }
}

function encoded(format: OtlpFormat, body: Buffer | string): EncodedAnswer {
  return { contentType: format === 'protobuf' ? 'application/x-protobuf' : 'application/json', body };
}

/** The `200` answer: `rejected` records refused for the reason in `message`, none when 0. */
export function exportAnswer(format: OtlpFormat, rejected: number, message: string): EncodedAnswer {
  const partialSuccess = rejected > 0 ? { rejectedLogRecords: rejected, errorMessage: message } : undefined;
  if (format === 'json') {
    // OTLP's JSON spells 64-bit integers as decimal strings.
    return encoded(format, JSON.stringify(partialSuccess === undefined ? {} : { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage: message } }));
  }
  const response = ExportLogsServiceResponse.fromObject(partialSuccess === undefined ? {} : { partialSuccess });
  return encoded(format, Buffer.from(ExportLogsServiceResponse.encode(response).finish()));
}

/** The answer to a refused request, whose status is `status` and whose JSON body would be `error`. */
export function statusAnswer(format: OtlpFormat, status: number, error: ErrorBody): EncodedAnswer {
  const info = { reason: error.error, domain: ERROR_DOMAIN, metadata: { request_id: error.request_id } };
  const badRequest = status === 400 ? { fieldViolations: [{ field: '', description: error.message }] } : null;
  const code = grpcCode(status);
  if (format === 'json') {
    const details: unknown[] = [{ '@type': `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`, ...info }];
    if (badRequest !== null) details.push({ '@type': `${TYPE_URL_PREFIX}google.rpc.BadRequest`, ...badRequest });
    return encoded(format, JSON.stringify({ code, message: error.message, details }));
  }
  const details = [{ type_url: `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`, value: ErrorInfo.encode(ErrorInfo.fromObject(info)).finish() }];
  if (badRequest !== null) details.push({ type_url: `${TYPE_URL_PREFIX}google.rpc.BadRequest`, value: BadRequest.encode(BadRequest.fromObject(badRequest)).finish() });
  return encoded(format, Buffer.from(RpcStatus.encode(RpcStatus.fromObject({ code, message: error.message, details })).finish()));
}
