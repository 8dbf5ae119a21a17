import type { WalPosition } from './types.js';

/** Orders positions in one token's WAL: by segment, then by offset. */
export function comparePositions(a: WalPosition, b: WalPosition): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}
