import type { FastifyRequest } from 'fastify';

/** Requests that matched no route share one label: raw URLs would give unbounded label values. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Methods no route serves share one label: node accepts 34, each a new series per route and status. */
export const OTHER_METHOD = 'other';

/** The method as a metric label: itself when some route serves it, else OTHER_METHOD. */
export function methodLabel(method: string, served: ReadonlySet<string>): string {
  return served.has(method) ? method : OTHER_METHOD;
}

/** A route template as users write it: fastify spells a literal colon `::` in its templates. */
export function routeTemplate(url: string): string {
  return url.replaceAll('::', ':');
}

/** The route template of a request, for metric labels and log lines; never the raw URL. */
export function routeLabel(request: FastifyRequest): string {
  const url = request.is404 ? undefined : request.routeOptions.url;
  return url === undefined ? UNMATCHED_ROUTE : routeTemplate(url);
}
