/**
 * Preparing a request (validating, masking, encoding) is CPU work that grows with the request,
 * bounded per byte but not small: masking 5 MB of distinct key names in Greek letters costs about
 * a second. Done in one turn of the event loop, that second would hold `/healthz`, `/metrics`
 * and every other client. So a request is prepared in turns: between entries, once a turn has
 * lasted `TURN_MS`, the loop is given back to everything else waiting.
 *
 * A pipeline prepares one request at a time. Its caches learn from a request and forget what a
 * refused request taught them; two requests interleaved would keep or forget each other's.
 * The CPU is one either way: while everything that is not preparing (health, metrics, bodies
 * arriving, fsyncs) runs between the turns, the next request waits for the one before. Which
 * request is next goes round the API keys, as delivery does: a key with many costly requests
 * waiting makes another key's request wait for one of them, not for all. A request whose client
 * has gone by its turn is not prepared: nothing of it was acknowledged.
 *
 * Giving the loop back once is not enough: node (libuv) accepts one connection per iteration of
 * the loop, so with a turn in every iteration it accepts one connection per turn. A turn is at
 * least one entry, tens of milliseconds for a long line of distinct `name=value` pairs, and
 * probes and clients that open a connection per request came faster than that: their backlog
 * held `/healthz` for seconds while no iteration was longer than one entry. So the loop is
 * given back for several iterations; one with nothing to do costs microseconds.
 */

/** How long a turn may last before the loop is given back. */
export const TURN_MS = 20;
/** Iterations of the event loop between two turns: connections accepted, at most, meanwhile. */
export const ITERATIONS_BETWEEN_TURNS = 8;

export class CpuTurns {
  /** Requests waiting, by API key, each key's in arrival order; the map's order is the keys' turn. */
  readonly #waiting = new Map<string, Array<() => void>>();
  #busy = false;
  #turnStart = 0;

  /**
   * Runs `work` for key `key` when its turn comes, unless `cancelled` is aborted by then (it
   * rejects with its reason); `work` calls `pause` between entries.
   */
  run<T>(key: string, work: () => Promise<T>, cancelled?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        if (cancelled?.aborted) {
          reject(cancelled.reason);
          // Not from here: a queue of cancelled requests would be passed over in one deep call chain.
          queueMicrotask(() => this.#startNext(key));
          return;
        }
        work()
          .then(resolve, reject)
          .finally(() => this.#startNext(key));
      };
      if (!this.#busy) {
        this.#busy = true;
        this.#turnStart = performance.now();
        start();
        return;
      }
      const queue = this.#waiting.get(key);
      if (queue === undefined) this.#waiting.set(key, [start]);
      else queue.push(start);
    });
  }

  /**
   * A promise to await when the turn has lasted long enough, else undefined: a check between
   * entries costs a clock read, not a promise.
   */
  pause(): Promise<void> | undefined {
    if (performance.now() - this.#turnStart < TURN_MS) return undefined;
    return new Promise((resolve) => this.#giveBack(resolve));
  }

  /** Calls `then` in a new turn, ITERATIONS_BETWEEN_TURNS iterations of the loop from now. */
  #giveBack(then: () => void): void {
    let left = ITERATIONS_BETWEEN_TURNS;
    const iterate = (): void => {
      if (--left > 0) {
        setImmediate(iterate);
        return;
      }
      this.#turnStart = performance.now();
      then();
    };
    setImmediate(iterate);
  }

  /** Starts the first waiting key's oldest request, another key's before `finished`'s own. */
  #startNext(finished: string): void {
    let chosen: string | undefined;
    for (const key of this.#waiting.keys()) {
      chosen = key;
      if (key !== finished) break;
    }
    if (chosen === undefined) {
      this.#busy = false;
      return;
    }
    const queue = this.#waiting.get(chosen)!;
    const next = queue.shift()!;
    // Served: the key goes to the back of the round.
    this.#waiting.delete(chosen);
    if (queue.length > 0) this.#waiting.set(chosen, queue);
    // The next request continues the turn of the one before: it may not lengthen it past TURN_MS.
    if (performance.now() - this.#turnStart < TURN_MS) next();
    else this.#giveBack(next);
  }
}
