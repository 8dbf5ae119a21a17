/**
 * A request body is released once its payloads exist. The parsed JSON of a 100-entry batch is
 * tens of KB of objects; kept on the request, it lived for as long as the append waited for
 * its fsync, and under load the GC promoted it to the old generation by the megabyte. What the
 * refusal metrics need of it afterwards, the number of entries, is kept; what its parse was
 * charged to the body budget is given back, so that a request waiting for its fsync holds its
 * bytes and its entries' payloads only. The bytes it was decoded from are freed then too
 * (freed-buffer.ts), when the decoder kept views of them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { freeBuffer } from '../pipeline/freed-buffer.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Entries of a released body; null while the body is still on the request. */
    releasedEntries: number | null;
    /** What parsing the body was charged to the body budget (json-parse-cost.ts); given back on release. */
    parsedBodyBytes: number;
    /** The bytes the body was decoded from, when what it decoded to still refers to them; freed on release. */
    bodyBytes: Buffer | null;
  }
}

export function decorateReleasedBody(app: FastifyInstance): void {
  app.decorateRequest('releasedEntries', null);
  app.decorateRequest('parsedBodyBytes', 0);
  app.decorateRequest('bodyBytes', null);
}

export function releaseBody(request: FastifyRequest, entries: number): void {
  request.releasedEntries = entries;
  request.body = undefined;
  request.bodyHold?.lease.give(request.parsedBodyBytes);
  request.parsedBodyBytes = 0;
  if (request.bodyBytes !== null) freeBuffer(request.bodyBytes);
  request.bodyBytes = null;
}
