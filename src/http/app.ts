/**
 * The HTTP edge, assembled: a fastify instance, not yet listening. The caller owns `listen` and
 * `close`; on close, requests still arriving are answered 503 `shutting_down` while those in
 * flight finish.
 */
import type { ServerOptions as HttpsOptions } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { logstackError } from '../errors.js';
import { compileMaskingPolicy } from '../masking/policy.js';
import type { Metrics } from '../observability/metrics.js';
import type { IngestPipeline } from '../pipeline/types.js';
import { createLokiPushPipeline } from '../sources/loki-push/loki-push-pipeline.js';
import type { LokiPushPipeline } from '../sources/loki-push/loki-push-request.js';
import { lokiPushRoute } from '../sources/loki-push/loki-push-route.js';
import { createIngestPipeline } from '../sources/native/ingest-pipeline.js';
import { ingestRoute } from '../sources/native/ingest-route.js';
import { createOtlpPipeline, type OtlpPipeline } from '../sources/otlp/otlp-pipeline.js';
import { otlpRoute } from '../sources/otlp/otlp-route.js';
import type { WalStore } from '../wal/types.js';
import { adminRoutes, type AdminOperations, type AdminStatus } from './admin-routes.js';
import { authPlugin, createKeyring } from './auth.js';
import { createBodyBudget } from './body-budget.js';
import { answerClientError } from './client-error.js';
import { limitConnections } from './connection-limit.js';
import { edgeSettingsPlugin, liveEdgeSettings, type LiveEdgeSettings } from './edge-settings.js';
import { DEFAULT_RETRY_AFTER_SECONDS, errorAnswer, errorHandlerPlugin } from './error-handler.js';
import { openapiPlugin } from './openapi.js';
import { limitPipelining } from './pipelined-requests.js';
import { createRateLimits, rateLimitPlugin, type RateLimits } from './rate-limit.js';
import { walReadiness, type Readiness } from './readiness.js';
import { refusalLogPlugin } from './refusal-log.js';
import { requestIdGenerator, requestIdPlugin } from './request-id.js';
import { requestTelemetryPlugin } from './request-telemetry.js';
import { routeTablePlugin } from './route-table.js';
import { PROBE_ROUTES, serviceRoutes } from './service-routes.js';
import { unreadBodyPlugin } from './unread-body.js';

export interface AppDeps {
  config: Config;
  /** The ingest pipeline; by default built from `config`. */
  pipeline?: IngestPipeline;
  /** The pipeline of Loki's push API; by default built from `config` (when `loki_push.enabled`). */
  lokiPushPipeline?: LokiPushPipeline;
  /** The pipeline of OTLP/HTTP logs; by default built from `config` (when `otlp.enabled`). */
  otlpPipeline?: OtlpPipeline;
  /** Keyring and pipelines that a configuration reload replaces; by default fixed, from the above. */
  settings?: LiveEdgeSettings;
  /** Rate limits that a reload changes; by default from `config`. */
  rateLimits?: RateLimits;
  wal: WalStore;
  metrics: Metrics;
  logger: Logger;
  version: string;
  /** Milliseconds since the epoch; `Date.now` by default. */
  clock?: () => number;
  /** Checks of /readyz by name; by default the WAL's (open and not failed, disk above its reserve). */
  readiness?: Readiness;
  /** Fields added to /v1/admin/status. */
  adminStatus?: AdminStatus;
  /** Flush and dead-letter endpoints; absent, those routes do not exist. */
  operations?: AdminOperations;
  /** Serve HTTPS with these options (src/tls/tls-listener.ts); plain HTTP when absent. */
  https?: HttpsOptions;
}

/** How often node checks every connection against its deadlines (ms): how late a 408 may come. */
const DEADLINE_CHECK_INTERVAL_MS = 1000;

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, metrics, wal } = deps;
  const clock = deps.clock ?? Date.now;
  const maxBodyBytes = config.limits.max_body_bytes;
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const requestTimeoutMs = config.server.request_timeout_seconds * 1000;
  const settings =
    deps.settings ??
    liveEdgeSettings({
      keyring: createKeyring(config.security),
      ingest: deps.pipeline ?? createIngestPipeline(config),
      lokiPush: config.loki_push.enabled ? (deps.lokiPushPipeline ?? createLokiPushPipeline(config)) : null,
      otlp: config.otlp.enabled ? (deps.otlpPipeline ?? createOtlpPipeline(config)) : null,
      masking: compileMaskingPolicy(config.masking),
    });

  const app = Fastify({
    ...(deps.https === undefined ? {} : { https: deps.https }),
    loggerInstance,
    // Every request, on every route and unrouted, has a deadline: node answers 408 past it
    // (client-error.ts) and closes the connection.
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: Math.min(config.server.headers_timeout_seconds * 1000, requestTimeoutMs),
      connectionsCheckingInterval: DEADLINE_CHECK_INTERVAL_MS,
    },
    // Our own per-request line (request-telemetry.ts) replaces fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdGenerator(() => settings.current.masking),
    bodyLimit: maxBodyBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    trustProxy: config.server.trust_proxy,
    // fastify's own 503 while closing has neither our body nor the request id.
    return503OnClosing: false,
    // A malformed URL is refused before routing, where setErrorHandler does not reach.
    frameworkErrors: (error, request: FastifyRequest, reply: FastifyReply) => {
      reply.send(errorAnswer(error, request, reply, maxBodyBytes));
    },
    // Requests node's parser refuses never reach fastify: answered here in the same shape.
    clientErrorHandler: answerClientError,
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw logstackError('HTTP_SHUTTING_DOWN', [], { retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS });
  });

  metrics.readWalFrom(wal);
  const connections = limitConnections(app.server, config.server.max_connections, {
    evicted: () => metrics.httpConnectionsClosed.inc({ reason: 'evicted' }),
    refused: () => metrics.httpConnectionsClosed.inc({ reason: 'refused' }),
  });
  limitPipelining(app.server, config.server.max_pipelined_requests, { overrun: () => metrics.httpConnectionsClosed.inc({ reason: 'pipelining' }) });
  const budget = createBodyBudget(config.limits.max_body_bytes_in_flight, config.limits.max_body_bytes_in_flight_per_key);
  metrics.readEdgeFrom({ openConnections: () => connections.open, bodyBytesInFlight: () => budget.inFlight, bodyBytesInFlightByKey: () => budget.inFlightByKey() });
  const body = { maxBytes: maxBodyBytes, timeoutMs: requestTimeoutMs, budget };

  app.register(routeTablePlugin);
  app.register(unreadBodyPlugin);
  app.register(requestIdPlugin);
  app.register(errorHandlerPlugin, { maxBodyBytes });
  app.register(edgeSettingsPlugin, { settings });
  app.register(refusalLogPlugin, { clock });
  app.register(authPlugin);
  app.register(rateLimitPlugin, { limits: deps.rateLimits ?? createRateLimits(config.security), metrics });
  app.register(requestTelemetryPlugin, { metrics, quietRoutes: PROBE_ROUTES });
  app.register(openapiPlugin, { version: deps.version });

  app.register(serviceRoutes, { version: deps.version, metrics, readiness: deps.readiness ?? walReadiness(wal) });
  app.register(ingestRoute, {
    wal,
    metrics,
    clock,
    body,
  });
  if (config.loki_push.enabled) {
    app.register(lokiPushRoute, {
      bounds: { maxEntries: config.loki_push.max_entries_per_push, maxStreams: config.loki_push.max_streams_per_push },
      wal,
      metrics,
      clock,
      body,
    });
  }
  if (config.otlp.enabled) {
    app.register(otlpRoute, {
      wal,
      metrics,
      clock,
      body,
      maxLogRecords: config.otlp.max_log_records,
    });
  }
  app.register(adminRoutes, { version: deps.version, wal, clock, startedAtMs: clock(), adminStatus: deps.adminStatus, operations: deps.operations });
  return app;
}
