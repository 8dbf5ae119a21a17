/**
 * One log line and the HTTP metrics per request. The route is the template, never the raw URL,
 * and the key is named, never shown.
 */
import fp from 'fastify-plugin';
import type { Metrics } from '../observability/metrics.js';
import { REFUSED_STATUSES } from './refusal-log.js';
import { methodLabel, routeLabel } from './route-label.js';

export interface TelemetryOptions {
  metrics: Metrics;
  /** Routes polled by probes and scrapers: their successes are logged at debug only. */
  quietRoutes: ReadonlySet<string>;
}

export const requestTelemetryPlugin = fp<TelemetryOptions>(
  async (app, { metrics, quietRoutes }) => {
    // Every route is registered by the time the app is ready.
    let served: ReadonlySet<string> = new Set();
    app.addHook('onReady', async () => {
      served = new Set([...app.routeTable.values()].flatMap((methods) => [...methods]));
    });
    app.addHook('onRequest', async (_request, reply) => {
      metrics.httpRequestsInFlight.inc();
      // 'close' fires whether the response finished or the client went away; onResponse would miss the latter.
      reply.raw.once('close', () => metrics.httpRequestsInFlight.dec());
    });

    app.addHook('onResponse', async (request, reply) => {
      const route = routeLabel(request);
      const labels = { method: methodLabel(request.method, served), route, status: String(reply.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1000);
      const level = reply.statusCode < 400 && quietRoutes.has(route) ? 'debug' : 'info';
      const fields = {
        method: request.method,
        route,
        status: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
        token_name: request.keyName ?? undefined,
        error: request.apiError ?? undefined,
      };
      // Refused, unrouted or unauthenticated: the client chose to make this line; bounded.
      if (REFUSED_STATUSES.has(reply.statusCode) || !request.authenticated) app.refusalLog.write(request, level, fields, 'request completed');
      else request.log[level](fields, 'request completed');
    });
  },
  { name: 'logstack-request-telemetry', fastify: '5.x', dependencies: ['logstack-route-table', 'logstack-auth', 'logstack-error-handler', 'logstack-refusal-log'] },
);
