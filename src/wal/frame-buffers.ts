/**
 * The buffers append groups are framed in, shared by the token WALs of a store. A fresh buffer
 * per group was megabytes a second of large allocations under load, which the allocator kept,
 * fragmented, long after they were freed; reused, they are allocated once. The pool is bounded
 * in count and size whatever the number of tokens: a group larger than a kept buffer, or one
 * written while all are in use, gets a buffer of its own, as before.
 */
import { freeBuffer } from '../pipeline/freed-buffer.js';

/** The smallest buffer allocated: most groups fit in it. */
const MIN_BYTES = 64 * 1024;

export interface FrameBufferOptions {
  /** Buffers kept for reuse, at most. */
  readonly keep: number;
  /** Largest buffer kept for reuse. */
  readonly maxKeptBytes: number;
}

export class FrameBuffers {
  readonly #free: Buffer[] = [];
  readonly #opts: FrameBufferOptions;

  constructor(opts: FrameBufferOptions = { keep: 4, maxKeptBytes: 1024 * 1024 }) {
    this.#opts = opts;
  }

  /** A buffer of at least `bytes`, to be given back with `release` once written. */
  acquire(bytes: number): Buffer {
    for (let i = this.#free.length - 1; i >= 0; i--) {
      if (this.#free[i]!.length >= bytes) return this.#free.splice(i, 1)[0]!;
    }
    return Buffer.allocUnsafeSlow(Math.max(MIN_BYTES, 2 ** Math.ceil(Math.log2(bytes))));
  }

  /** Takes `buffer` back once written; one not kept is freed at once (freed-buffer.ts). */
  release(buffer: Buffer): void {
    if (buffer.length > this.#opts.maxKeptBytes) {
      freeBuffer(buffer);
      return;
    }
    if (this.#free.length < this.#opts.keep) this.#free.push(buffer);
    else {
      // Full: keep the larger buffers, which serve more groups.
      const smallest = this.#free.reduce((s, b, i) => (b.length < this.#free[s]!.length ? i : s), 0);
      const dropped = this.#free[smallest]!.length < buffer.length ? this.#free.splice(smallest, 1, buffer)[0]! : buffer;
      freeBuffer(dropped);
    }
  }
}
