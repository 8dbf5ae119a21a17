/**
 * Preparing a request (validating, masking, encoding) is CPU work that grows with the request,
 * bounded per byte but not small: masking 5 MB of distinct key names in Greek letters costs about
 * a second. Done in one turn of the event loop, that second would hold `/healthz`, `/metrics`
 * and every other client. So a request is prepared in turns: between entries, once a turn has
 * lasted `TURN_MS`, the loop is given back to everything else waiting.
 *
 * A pipeline prepares one request at a time. Its caches learn from a request and forget what a
 * refused request taught them; two requests interleaved would keep or forget each other's.
 * The CPU is one either way: the next request waits for the one before, while everything that
 * is not preparing (health, metrics, bodies arriving, fsyncs) runs between the turns.
 */

/** How long a turn may last before the loop is given back. */
export const TURN_MS = 20;

export class CpuTurns {
  #queue: Promise<unknown> = Promise.resolve();
  #turnStart = 0;

  /** Runs `work` once the requests before it are prepared; it calls `pause` between entries. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const done = this.#queue.then(() => {
      this.#turnStart = performance.now();
      return work();
    });
    this.#queue = done.catch(() => undefined);
    return done;
  }

  /**
   * A promise to await when the turn has lasted long enough, else undefined: a check between
   * entries costs a clock read, not a promise.
   */
  pause(): Promise<void> | undefined {
    if (performance.now() - this.#turnStart < TURN_MS) return undefined;
    return new Promise((resolve) => {
      setImmediate(() => {
        this.#turnStart = performance.now();
        resolve();
      });
    });
  }
}
