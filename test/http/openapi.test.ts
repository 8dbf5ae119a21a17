import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import t, { type Test } from 'tap';
import { ENTRIES_SCHEMA } from '../../src/sources/native/validate.js';
import { ADMIN_TOKEN, APP_TOKEN, entry, send, startServer, type TestServer } from '../support/http-server.js';

type Json = any;

const OPERATIONS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const PARAMETER_PLACES = new Set(['query', 'header', 'path', 'cookie']);

/** Every route, the admin operations included. */
async function startFullServer(t: Test): Promise<TestServer> {
  return startServer(t, {
    config: { security: { admin_token: ADMIN_TOKEN } },
    deps: {
      operations: {
        flush: async () => ({ complete: true, tokens: {} }),
        deadLetters: async () => ({}),
        replayDeadLetters: async () => ({}),
      },
    },
  });
}

function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<Json>((node, token) => (node === undefined || node === null ? undefined : node[token]), doc);
}

function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * The rules of OpenAPI 3.1 a generator can break, as a list of problems: the version, the info
 * object, operations with described responses under valid status keys, parameters with a place
 * and a schema, security requirements naming declared schemes, `$ref`s that resolve, and
 * schemas that are valid JSON Schema 2020-12 (3.0's draft-04 dialect would refuse some of ours,
 * e.g. a numeric `exclusiveMinimum`).
 */
function openapiProblems(doc: Json): string[] {
  const problems: string[] = [];
  const schemas: string[] = [];
  if (typeof doc.openapi !== 'string' || !/^3\.1\.\d+$/.test(doc.openapi)) problems.push(`openapi is ${doc.openapi}, not 3.1.x`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') problems.push('info needs a title and a version');
  const schemes = doc.components?.securitySchemes ?? {};
  for (const [name, schema] of Object.entries<Json>(doc.components?.schemas ?? {})) {
    if (typeof schema === 'object') schemas.push(`#/components/schemas/${pointerToken(name)}`);
  }
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    if (!path.startsWith('/')) problems.push(`path ${path} does not start with /`);
    const at = `#/paths/${pointerToken(path)}`;
    for (const [method, operation] of Object.entries<Json>(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!OPERATIONS.has(method)) {
        problems.push(`${where}: not an HTTP method of OpenAPI 3.1`);
        continue;
      }
      for (const [i, parameter] of (operation.parameters ?? []).entries()) {
        if (typeof parameter.name !== 'string' || !PARAMETER_PLACES.has(parameter.in) || typeof parameter.schema !== 'object') {
          problems.push(`${where}: parameter ${i} needs a name, a place and a schema`);
        } else {
          schemas.push(`${at}/${method}/parameters/${i}/schema`);
        }
      }
      for (const [type, media] of Object.entries<Json>(operation.requestBody?.content ?? {})) {
        schemas.push(`${at}/${method}/requestBody/content/${pointerToken(type)}/schema`);
        if (typeof media.schema !== 'object') problems.push(`${where}: request body ${type} has no schema`);
      }
      const responses = Object.entries<Json>(operation.responses ?? {});
      if (responses.length === 0) problems.push(`${where}: no responses`);
      for (const [status, response] of responses) {
        if (!/^([1-5](\d\d|XX)|default)$/.test(status)) problems.push(`${where}: ${status} is not a status`);
        if (typeof response.description !== 'string') problems.push(`${where}: response ${status} has no description`);
        for (const [type, media] of Object.entries<Json>(response.content ?? {})) {
          if (typeof media.schema === 'object') schemas.push(`${at}/${method}/responses/${status}/content/${pointerToken(type)}/schema`);
          else problems.push(`${where}: response ${status} ${type} has no schema`);
        }
      }
      for (const requirement of operation.security ?? []) {
        for (const scheme of Object.keys(requirement)) if (!(scheme in schemes)) problems.push(`${where}: security scheme ${scheme} is not declared`);
      }
    }
  }
  const refs = JSON.stringify(doc).matchAll(/"\$ref":"([^"]*)"/g);
  for (const [, ref] of refs) if (resolvePointer(doc, ref!) === undefined) problems.push(`$ref ${ref} does not resolve`);

  // Annotations of OpenAPI's own (example, xml) are not JSON Schema's: not strict about them.
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema(doc, 'openapi.json');
  for (const pointer of schemas) {
    try {
      ajv.compile({ $ref: `openapi.json${pointer}` });
    } catch (err) {
      problems.push(`${pointer}: ${(err as Error).message}`);
    }
  }
  return problems;
}

t.test('/openapi.json is an OpenAPI 3.1 document of exactly the routes GET / lists', async (t) => {
  const server = await startFullServer(t);
  const answer = await send(server, '/openapi.json');
  t.equal(answer.status, 200);
  const doc = answer.json;
  t.same(openapiProblems(doc), []);
  t.match(doc.info, { title: 'LogStack', version: '1.2.3-test' });

  const served = (await send(server, '/')).json.endpoints.map((e: { method: string; path: string }) => `${e.method} ${e.path}`).sort();
  const described = Object.entries<Json>(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
  t.same(described, served);
  t.ok(served.includes('POST /v1/logs:ingest') && served.includes('POST /v1/admin/dead-letters:replay'), 'custom methods keep their single colon');
});

t.test('ingest asks for an API key, admin routes for the admin token, service routes for nothing', async (t) => {
  const doc = (await send(await startFullServer(t), '/openapi.json')).json;
  t.match(doc.components.securitySchemes.apiKey, { type: 'http', scheme: 'bearer' });
  t.match(doc.components.securitySchemes.adminToken, { type: 'http', scheme: 'bearer' });
  const security = (path: string) => Object.values<Json>(doc.paths[path]).map((operation) => operation.security);
  t.same(security('/v1/logs:ingest'), [[{ apiKey: [] }]]);
  const admin = Object.keys(doc.paths).filter((path) => path.startsWith('/v1/admin/'));
  t.equal(admin.length, 4);
  for (const path of admin) t.same(security(path), [[{ adminToken: [] }]], path);
  for (const path of ['/', '/healthz', '/readyz', '/metrics', '/openapi.json']) t.same(security(path), [undefined], path);
});

t.test('the documented query parameters are the ones the routes accept', async (t) => {
  const doc = (await send(await startFullServer(t), '/openapi.json')).json;
  const params = (path: string, method: string) => doc.paths[path][method].parameters.map((p: Json) => p.name).sort();
  t.same(params('/v1/admin/flush', 'post'), ['timeout_seconds', 'wait']);
  t.same(params('/v1/admin/dead-letters:replay', 'post'), ['token']);
  t.match(doc.paths['/readyz'].get.parameters, [{ name: 'exclude', in: 'query', schema: { type: 'array', items: { enum: ['wal', 'disk'] } } }]);
});

t.test('errors are documented with the error body, and answered with it', async (t) => {
  const server = await startFullServer(t);
  const doc = (await send(server, '/openapi.json')).json;
  const ingest = doc.paths['/v1/logs:ingest'].post.responses;
  t.same(Object.keys(ingest).sort(), ['202', '400', '401', '408', '413', '415', '429', '503']);
  t.same(ingest['400'].content['application/json'].schema, { $ref: '#/components/schemas/ErrorBody' });
  t.match(doc.components.schemas.ErrorBody, { type: 'object', required: ['error', 'message', 'request_id'] });

  const refused = await send(server, '/v1/logs:ingest', { body: JSON.stringify({ entries: [entry()] }) });
  t.equal(refused.status, 401);
  const errorBody = new Ajv({ strict: false }).compile(doc.components.schemas.ErrorBody);
  t.ok(errorBody(refused.json), 'a real error answer fits the documented body');
});

t.test('the ingest body is documented with the pipeline\'s schema, and only the pipeline validates it', async (t) => {
  const server = await startFullServer(t);
  const doc = (await send(server, '/openapi.json')).json;
  const body = doc.paths['/v1/logs:ingest'].post.requestBody.content['application/json'].schema;
  t.same(body.properties.entries.items, JSON.parse(JSON.stringify(ENTRIES_SCHEMA.items)), 'the schema the pipeline compiles, unchanged');
  t.same(body.required, ['entries']);
  const documented = new Ajv({ strict: false }).compile(body);

  const good = { entries: [entry(), entry({ level: 'ERROR', metadata: { order_id: 'O-1' } })] };
  t.ok(documented(good));
  t.equal((await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: JSON.stringify(good) })).status, 202);

  // Two bad entries, two problems in the first: one validation would stop at the first problem.
  const bad = { entries: [entry({ level: 'LOUD', colour: 'red' }), entry(), entry({ service: 'has space' })] };
  t.notOk(documented(bad));
  const refused = await send(server, '/v1/logs:ingest', { token: APP_TOKEN, body: JSON.stringify(bad) });
  t.equal(refused.status, 400);
  t.match(refused.json, { error: 'validation_failed', message: /^2 of 3 entries are invalid/ });
  t.same(
    refused.json.details.map((d: { index: number; pointer: string }) => `${d.index} ${d.pointer}`),
    ['0 /entries/0/colour', '0 /entries/0/level', '2 /entries/2/service'],
  );
});
