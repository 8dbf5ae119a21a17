/**
 * Where Loki's endpoints are, from `loki.base_url`. Its own module so that the main thread can
 * name the push URL without loading the HTTP client, which lives on the delivery thread.
 */

const PUSH_PATH = '/loki/api/v1/push';

export interface LokiEndpoints {
  /** `http(s)://host:port`, without credentials. */
  readonly origin: string;
  /** A gateway may serve Loki under a path (`http://gw/loki-tenant-a`): kept as a prefix, no trailing `/`. */
  readonly pathPrefix: string;
  /** `{base_url}/loki/api/v1/push` without credentials: safe to log. */
  readonly pushUrl: string;
  /** The path pushes are POSTed to on `origin`: the prefix and `/loki/api/v1/push`. */
  readonly pushPath: string;
}

export function lokiEndpoints(baseUrl: string): LokiEndpoints {
  const url = new URL(baseUrl);
  const pathPrefix = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, pathPrefix, pushUrl: `${url.origin}${pathPrefix}${PUSH_PATH}`, pushPath: `${pathPrefix}${PUSH_PATH}` };
}
