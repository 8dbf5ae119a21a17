/**
 * Frees a large buffer's memory as soon as it is done with, not at V8's next full collection.
 *
 * A request's body, as sent and decompressed, is held across awaits (inflation, the WAL's
 * fsync), so it outlives two scavenges and is promoted; its memory is outside the V8 heap, and
 * V8 starts a full collection for such memory only once ~64 MB more of it was allocated since
 * the last one, so dead bodies waited for that. Detaching the ArrayBuffer gives its memory back
 * to the allocator at once: under mixed load, peak external memory 73-83 MiB instead of 81-93
 * and peak RSS ~10 MiB lower (docs/benchmarks.md, "Native memory under mixed load").
 */

/** Below this a buffer may be a slice of Node's shared pool, and freeing it early gains little. */
const MIN_FREED_BYTES = 64 * 1024;

/**
 * Frees `buffer`'s memory now when it alone spans its ArrayBuffer of at least 64 KiB; otherwise
 * leaves it to the GC. Afterwards it, and any view of it, reads as empty: only for a buffer
 * nothing refers to any more (strings decoded from it are copies).
 */
export function freeBuffer(buffer: Buffer): void {
  const { buffer: arrayBuffer } = buffer;
  if (buffer.byteOffset !== 0 || buffer.byteLength !== arrayBuffer.byteLength || buffer.byteLength < MIN_FREED_BYTES) return;
  if (arrayBuffer instanceof ArrayBuffer && !arrayBuffer.detached) arrayBuffer.transfer(0);
}
