import type { FastifyRequest } from 'fastify';

/** Requests that matched no route share one label: raw URLs would give unbounded label values. */
export const UNMATCHED_ROUTE = 'unmatched';

/** A route template as users write it: fastify spells a literal colon `::` in its templates. */
export function routeTemplate(url: string): string {
  return url.replaceAll('::', ':');
}

/** The route template of a request, for metric labels and log lines; never the raw URL. */
export function routeLabel(request: FastifyRequest): string {
  const url = request.is404 ? undefined : request.routeOptions.url;
  return url === undefined ? UNMATCHED_ROUTE : routeTemplate(url);
}
