/**
 * The request id: the client's `X-Request-ID` when it is safe to log and echo, else a new UUID.
 * It is on every response (errors and 404s too) and, as `request_id`, on every log line of the request.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';
import type { MaskingPolicy } from '../masking/policy.js';

export const REQUEST_ID_HEADER = 'x-request-id';

// Bounded and free of spaces, quotes and control characters: it lands verbatim in logs and headers.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * `header` when it is sane and no masking rule would change it, else a new UUID. The id lands in
 * every log line of the request, so `password:hunter2` or a card number must not: it is judged
 * before the request's key is known, so by `policy`, the `masking` section's. At most 128
 * characters of masking per request.
 */
export function requestIdFrom(header: string | string[] | undefined, policy: Pick<MaskingPolicy, 'maskText'>): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) && policy.maskText(header) === header ? header : randomUUID();
}

/** Fastify's `genReqId`, masking by the policy current when a request arrives (a reload replaces it). */
export function requestIdGenerator(policy: () => Pick<MaskingPolicy, 'maskText'>): (req: IncomingMessage) => string {
  return (req) => requestIdFrom(req.headers[REQUEST_ID_HEADER], policy());
}

export const requestIdPlugin = fp(
  async (app) => {
    app.addHook('onRequest', async (request, reply) => {
      reply.header(REQUEST_ID_HEADER, request.id);
    });
  },
  { name: 'logstack-request-id', fastify: '5.x' },
);
