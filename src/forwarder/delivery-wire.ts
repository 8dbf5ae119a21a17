/**
 * The messages between the main thread and the delivery thread: the forwarder's delivery
 * requests, and the GETs of the Loki readiness probe. Results are structured-cloned,
 * which copies a typed array's whole underlying buffer: the entries Loki refused (slices of
 * large read buffers) travel packed into one array, their label sets each once, and the append
 * times are transferred.
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

interface RefusedOnWire {
  readonly data: Uint8Array;
  readonly lengths: number[];
  readonly labelSets: string[];
  /** Per entry: the index of its label set. */
  readonly labelSetOf: number[];
}

type PushedOnWire = Omit<PushedBatch, 'refused'> & { readonly refused?: RefusedOnWire };
type ResultOnWire = Exclude<DeliveryResult, { kind: 'pushed' }> | PushedOnWire;

export type ThreadReply =
  | { readonly type: 'result'; readonly id: number; readonly result: ResultOnWire }
  | { readonly type: 'answer'; readonly id: number; readonly answer: LokiAnswer }
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly code?: string }
  | { readonly type: 'ready' }
  | { readonly type: 'closed' };

function packRefused(refused: NonNullable<PushedBatch['refused']>): RefusedOnWire {
  const index = new Map<string, number>();
  const labelSets: string[] = [];
  const labelSetOf: number[] = [];
  for (const { labels } of refused) {
    let i = index.get(labels);
    if (i === undefined) {
      i = labelSets.push(labels) - 1;
      index.set(labels, i);
    }
    labelSetOf.push(i);
  }
  return { data: Buffer.concat(refused.map((r) => r.entry)), lengths: refused.map((r) => r.entry.length), labelSets, labelSetOf };
}

export function toWire(id: number, result: DeliveryResult): { reply: ThreadReply; transfer: ArrayBuffer[] } {
  if (result.kind !== 'pushed') return { reply: { type: 'result', id, result }, transfer: [] };
  const { refused, ...rest } = result;
  const onWire: PushedOnWire = refused ? { ...rest, refused: packRefused(refused) } : rest;
  return { reply: { type: 'result', id, result: onWire }, transfer: [result.appendedAtMs.buffer as ArrayBuffer] };
}

export function fromWire(result: ResultOnWire): DeliveryResult {
  if (result.kind !== 'pushed' || !result.refused) return result as DeliveryResult;
  const { data, lengths, labelSets, labelSetOf } = result.refused;
  const whole = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const refused: NonNullable<PushedBatch['refused']> = [];
  let offset = 0;
  for (const [i, length] of lengths.entries()) {
    refused.push({ labels: labelSets[labelSetOf[i]!]!, entry: whole.subarray(offset, offset + length) });
    offset += length;
  }
  return { ...result, refused };
}
