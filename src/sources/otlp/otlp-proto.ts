/**
 * OTLP's logs messages and google.rpc.Status, from the vendored `.proto` files (proto/README.md)
 * by protobufjs, and the shape of a decoded request as the rest of this folder reads it.
 *
 * protobufjs decodes with a recursion limit of 100 messages (protoc's default): a kvlist nested
 * in a kvlist is three messages a level, so a body nested past ~30 levels is refused by the
 * decoder itself, without recursing further.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** A protobuf 64-bit integer as protobufjs decodes it (with `long` installed). */
export interface Int64 {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
}

export interface AnyValue {
  /** Which member of the `value` oneof is set; undefined for an empty value. */
  readonly value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  readonly stringValue: string;
  readonly boolValue: boolean;
  readonly intValue: Int64 | number;
  readonly doubleValue: number;
  readonly arrayValue: { readonly values: readonly AnyValue[] } | null;
  readonly kvlistValue: { readonly values: readonly KeyValue[] } | null;
  readonly bytesValue: Uint8Array;
}

export interface KeyValue {
  readonly key: string;
  readonly value: AnyValue | null;
}

export interface LogRecord {
  readonly timeUnixNano: Int64 | number;
  readonly observedTimeUnixNano: Int64 | number;
  readonly severityNumber: number;
  readonly severityText: string;
  readonly body: AnyValue | null;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount: number;
  readonly flags: number;
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly eventName: string;
}

export interface ScopeLogs {
  readonly scope: { readonly name: string; readonly version: string; readonly attributes: readonly KeyValue[]; readonly droppedAttributesCount: number } | null;
  readonly logRecords: readonly LogRecord[];
}

export interface ResourceLogs {
  readonly resource: { readonly attributes: readonly KeyValue[]; readonly droppedAttributesCount: number } | null;
  readonly scopeLogs: readonly ScopeLogs[];
}

/** `ExportLogsServiceRequest`, decoded. */
export interface ExportLogsRequest {
  readonly resourceLogs: readonly ResourceLogs[];
}

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  // Imports name files from the proto root; google/protobuf/* are protobufjs' own.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : PROTO_DIR + target);
  root.loadSync(['opentelemetry/proto/collector/logs/v1/logs_service.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto']);
  root.resolveAll();
  return root;
}

const root = loadRoot();

export const ExportLogsServiceRequest = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
export const ExportLogsServiceResponse = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
export const RpcStatus = root.lookupType('google.rpc.Status');
export const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');
export const BadRequest = root.lookupType('google.rpc.BadRequest');

/** Nanoseconds since the epoch as a BigInt, exactly. */
export function int64Value(value: Int64 | number): bigint {
  if (typeof value === 'number') return BigInt(value);
  const unsigned = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return value.unsigned || value.high >= 0 ? unsigned : unsigned - (1n << 64n);
}
