/**
 * What a request holds of the body budget is given back once its answer is done *and* nothing
 * works on its body any more. Given back when the connection closed, as it was, a client that
 * hung up after sending freed the count of a push still decoded in memory, waiting its turn to
 * be prepared and written, and its next push was admitted beside it: one key's pushes, each
 * abandoned 0.7 s after it was sent, took the heap past its limit in 30 s. Work not begun when
 * the client goes is not begun at all: nothing of the request was acknowledged, and a client
 * that gave up will send it again.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { logstackError } from '../errors.js';
import type { BodyLease } from './body-budget.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's lease and whether its client is still there; null until its body is admitted. */
    bodyHold: BodyHold | null;
  }
}

export class BodyHold {
  readonly lease: BodyLease;
  readonly #clientGone = new AbortController();
  #connectionOpen = true;
  #working = true;

  constructor(lease: BodyLease, response: ServerResponse) {
    this.lease = lease;
    // 'close' comes whether the answer was sent or the client went away first.
    response.once('close', () => {
      this.#connectionOpen = false;
      if (!response.writableFinished) this.#clientGone.abort(logstackError('HTTP_CLIENT_GONE'));
      this.#releaseIfDone();
    });
  }

  /** Aborted when the client goes away before its answer is sent. */
  get clientGone(): AbortSignal {
    return this.#clientGone.signal;
  }

  /** The request's work on its body is over: its handler returned or threw, or the request failed before it. Idempotent. */
  workDone(): void {
    this.#working = false;
    this.#releaseIfDone();
  }

  #releaseIfDone(): void {
    if (!this.#working && !this.#connectionOpen) this.lease.release();
  }
}

export function decorateBodyHold(app: FastifyInstance): void {
  app.decorateRequest('bodyHold', null);
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * Runs a route handler's work on its request's body, the body counted until the work ends, and
 * not at all if the client has gone already; `clientGone` tells the work when it goes later.
 */
export async function workOnBody<T>(request: FastifyRequest, work: (clientGone: AbortSignal) => Promise<T>): Promise<T> {
  const hold = request.bodyHold;
  if (hold === null) return work(NEVER_ABORTED);
  try {
    hold.clientGone.throwIfAborted();
    return await work(hold.clientGone);
  } finally {
    hold.workDone();
  }
}
