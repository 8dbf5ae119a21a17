/**
 * A request body is released once its payloads exist. The parsed JSON of a 100-entry batch is
 * tens of KB of objects; kept on the request, it lived for as long as the append waited for
 * its fsync, and under load the GC promoted it to the old generation by the megabyte. What the
 * refusal metrics need of it afterwards, the number of entries, is kept.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Entries of a released body; null while the body is still on the request. */
    releasedEntries: number | null;
  }
}

export function decorateReleasedBody(app: FastifyInstance): void {
  app.decorateRequest('releasedEntries', null);
}

export function releaseBody(request: FastifyRequest, entries: number): void {
  request.releasedEntries = entries;
  request.body = undefined;
}
