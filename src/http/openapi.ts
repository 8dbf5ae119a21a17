/**
 * `GET /openapi.json`: an OpenAPI 3 description generated from the route schemas, so that it
 * cannot drift from what the routes accept and answer. Register before the routes: the generator
 * learns them as they are added.
 */
import fastifySwagger from '@fastify/swagger';
import fp from 'fastify-plugin';

/** `$id` of the error body every non-2xx answer carries (see error-handler.ts). */
const ERROR_BODY_ID = 'ErrorBody';

const errorBodySchema = {
  $id: ERROR_BODY_ID,
  type: 'object',
  description: 'Every non-2xx answer. `error` is stable: docs/errors.md lists each code with its status and what to do.',
  properties: {
    error: { type: 'string', description: 'Stable code, e.g. `validation_failed`' },
    message: { type: 'string' },
    request_id: { type: 'string', description: 'Also in the X-Request-Id header and in the log line of the request' },
    details: { description: 'Depends on `error`; for `validation_failed`, the problems of the entries, the first 100 (the message counts the rest): `{index, pointer, reason}`' },
  },
  required: ['error', 'message', 'request_id'],
} as const;

/** A response schema: the error body, answered when `description` says. */
export function errorResponse(description: string) {
  return { description, $ref: `${ERROR_BODY_ID}#` } as const;
}

/** Response schemas of the error body, by status, each saying when that status is answered. */
export function errorResponses(descriptions: Readonly<Record<number, string>>): Record<number, ReturnType<typeof errorResponse>> {
  return Object.fromEntries(Object.entries(descriptions).map(([status, description]) => [status, errorResponse(description)]));
}

/** Security requirement of `POST /v1/logs:ingest`. */
export const API_KEY_SECURITY = [{ apiKey: [] }] as const;
/** Security requirement of `/v1/admin/*`. */
export const ADMIN_SECURITY = [{ adminToken: [] }] as const;

export interface OpenapiOptions {
  version: string;
}

export const openapiPlugin = fp<OpenapiOptions>(
  async (app, { version }) => {
    let document: string | undefined;
    app.addSchema(errorBodySchema);
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'LogStack',
          version,
          description: 'Durable log shipper to Grafana Loki: authenticated, masked, written to disk before 202, delivered with retries.',
        },
        tags: [
          { name: 'ingest', description: 'Sending log entries' },
          { name: 'admin', description: 'Operating the service; the admin token only' },
          { name: 'service', description: 'Probes, metrics and descriptions; no token' },
        ],
        components: {
          securitySchemes: {
            apiKey: { type: 'http', scheme: 'bearer', description: 'An API key of `security.api_keys`' },
            adminToken: { type: 'http', scheme: 'bearer', description: '`security.admin_token`' },
          },
        },
      },
      // Shared schemas appear under components.schemas by their `$id`, not as `def-0`.
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    });

    app.get(
      '/openapi.json',
      {
        schema: {
          summary: 'This description of the API, OpenAPI 3.1',
          tags: ['service'],
          response: { 200: { type: 'object', description: 'OpenAPI 3.1 document', additionalProperties: true } },
        },
      },
      async (_request, reply) => {
        // Built and serialised once, at the first request (the routes are all known by then):
        // serialising it per request let a flood of unauthenticated requests stall the service.
        document ??= JSON.stringify(app.swagger());
        return reply.type('application/json; charset=utf-8').send(document);
      },
    );
  },
  { name: 'logstack-openapi', fastify: '5.x' },
);
