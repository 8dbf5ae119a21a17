/**
 * The messages between the main thread and the delivery thread: the forwarder's delivery
 * requests, and the GETs of the Loki readiness probe. Results are structured-cloned,
 * which copies a typed array's whole underlying buffer: the payloads Loki refused (slices of
 * large read buffers) travel packed into one array, and the append times are transferred.
 */
import type { Config } from '../config/schema.js';
import type { DeliveryRequest, DeliveryResult, PushedBatch } from './batch-delivery.js';
import type { LokiAnswer } from './loki-client.js';

export interface DeliveryThreadData {
  readonly loki: Config['loki'];
  readonly version: string;
}

export type ThreadRequest =
  | { readonly type: 'deliver'; readonly id: number; readonly request: DeliveryRequest }
  | { readonly type: 'get'; readonly id: number; readonly path: string; readonly timeoutMs: number }
  | { readonly type: 'close' };

type PushedOnWire = Omit<PushedBatch, 'refused'> & { readonly refused?: { readonly data: Uint8Array; readonly lengths: number[] } };
type ResultOnWire = Exclude<DeliveryResult, { kind: 'pushed' }> | PushedOnWire;

export type ThreadReply =
  | { readonly type: 'result'; readonly id: number; readonly result: ResultOnWire }
  | { readonly type: 'answer'; readonly id: number; readonly answer: LokiAnswer }
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly code?: string }
  | { readonly type: 'ready' }
  | { readonly type: 'closed' };

export function toWire(id: number, result: DeliveryResult): { reply: ThreadReply; transfer: ArrayBuffer[] } {
  if (result.kind !== 'pushed') return { reply: { type: 'result', id, result }, transfer: [] };
  const { refused, ...rest } = result;
  const onWire: PushedOnWire = refused ? { ...rest, refused: { data: Buffer.concat(refused), lengths: refused.map((p) => p.length) } } : rest;
  return { reply: { type: 'result', id, result: onWire }, transfer: [result.appendedAtMs.buffer as ArrayBuffer] };
}

export function fromWire(result: ResultOnWire): DeliveryResult {
  if (result.kind !== 'pushed' || !result.refused) return result as DeliveryResult;
  const { data, lengths } = result.refused;
  const whole = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const refused: Buffer[] = [];
  let offset = 0;
  for (const length of lengths) {
    refused.push(whole.subarray(offset, offset + length));
    offset += length;
  }
  return { ...result, refused };
}
