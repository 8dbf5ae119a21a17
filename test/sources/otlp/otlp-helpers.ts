/**
 * OTLP requests for the tests, in OTLP's JSON shape (lowerCamelCase, hex ids, 64-bit integers as
 * strings) and encoded to protobuf by protobufjs from the same object, and a client for
 * `POST /v1/logs` that reads the answer as an OTLP client would.
 */
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { BadRequest, ErrorInfo, ExportLogsServiceRequest, ExportLogsServiceResponse, RpcStatus } from '../../../src/sources/otlp/otlp-proto.js';
import { APP_TOKEN, type TestServer } from '../../support/http-server.js';

export type Json = Record<string, unknown>;

/** Now minus `offsetMs`, in nanoseconds, with sub-millisecond digits that must survive. */
export function nowNs(offsetMs = 0): string {
  return (BigInt(Date.now() - offsetMs) * 1_000_000n + 123_457n).toString();
}

export function str(value: string): Json {
  return { stringValue: value };
}

export function kv(key: string, value: Json): Json {
  return { key, value };
}

export function kvlist(...values: Json[]): Json {
  return { kvlistValue: { values } };
}

export function record(fields: Json = {}): Json {
  return { timeUnixNano: nowNs(), body: str('hello'), ...fields };
}

export function exportRequest(records: Json[], resourceAttributes: Json[] = [kv('service.name', str('shop'))], scope: Json = { name: 'test-scope' }): Json {
  return { resourceLogs: [{ resource: { attributes: resourceAttributes }, scopeLogs: [{ scope, logRecords: records }] }] };
}

/** The protobuf of an OTLP JSON request: hex ids become bytes first, as OTLP's JSON means them. */
export function protobufOf(json: Json): Buffer {
  const copy = structuredClone(json) as { resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: Json[] }> }> };
  for (const resource of copy.resourceLogs ?? []) {
    for (const scope of resource.scopeLogs ?? []) {
      for (const log of scope.logRecords ?? []) {
        for (const id of ['traceId', 'spanId']) if (typeof log[id] === 'string') log[id] = Buffer.from(log[id] as string, 'hex');
      }
    }
  }
  return Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(copy)).finish());
}

export interface OtlpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly raw: Buffer;
  /** The 200's response or the error's Status, decoded by its content type, as plain JSON. */
  readonly body: any;
}

export interface PostOptions {
  type?: string | null;
  encoding?: string;
  authorization?: string | null;
}

function decodeAnswer(status: number, contentType: string, raw: Buffer): unknown {
  if (contentType.startsWith('application/json')) return JSON.parse(raw.toString('utf8'));
  if (!contentType.startsWith('application/x-protobuf')) return raw.toString('utf8');
  if (status === 200) return ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(raw), { longs: String });
  const decoded = RpcStatus.toObject(RpcStatus.decode(raw)) as { code?: number; message?: string; details?: Array<{ type_url: string; value: Uint8Array }> };
  return {
    ...decoded,
    details: (decoded.details ?? []).map((any) => {
      const type = any.type_url.endsWith('ErrorInfo') ? ErrorInfo : BadRequest;
      return { '@type': any.type_url, ...type.toObject(type.decode(any.value)) };
    }),
  };
}

/** POSTs `body` to /v1/logs: protobuf unless `type` says otherwise, with the app token. */
export async function postLogs(server: TestServer, body: Buffer | string, options: PostOptions = {}): Promise<OtlpAnswer> {
  const headers: Record<string, string> = {};
  const type = options.type === undefined ? 'application/x-protobuf' : options.type;
  if (type !== null) headers['content-type'] = type;
  if (options.encoding !== undefined) headers['content-encoding'] = options.encoding;
  const authorization = options.authorization === undefined ? `Bearer ${APP_TOKEN}` : options.authorization;
  if (authorization !== null) headers.authorization = authorization;
  const response = await request(`${server.url}/v1/logs`, { method: 'POST', headers, body });
  const raw = Buffer.from(await response.body.arrayBuffer());
  const contentType = String(response.headers['content-type'] ?? '');
  return { status: response.statusCode, headers: response.headers, raw, body: decodeAnswer(response.statusCode, contentType, raw) };
}

export function gzip(body: Buffer | string): Buffer {
  return gzipSync(body);
}

/** A protobuf varint. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field. */
export function field(number: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | 2]), varint(bytes.length), bytes]);
}
