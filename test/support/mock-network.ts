/**
 * msw over every HTTP exchange of the test process, undici's included.
 *
 * msw 3 intercepts at the socket: it parses what a client writes to a socket and answers in the
 * server's place. But its `setupServer()` hands a request to the handlers only when node:http or
 * the global `fetch` started it (it checks the request's initiator), so a request of an undici
 * `Pool` or `undici.request()` — the Loki client's, the admin CLI's — goes past it to the
 * network (test/forwarder/loki-client-answers.test.ts shows both). The interceptors' own
 * `HttpRequestInterceptor` forwards every HTTP request whatever its initiator; msw's network is
 * built on it here. No request escapes: one that no handler answers fails the test's request.
 */
import { HttpRequestInterceptor } from '@mswjs/interceptors/http';
import type { RequestHandler } from 'msw';
import { defineNetwork, InterceptorSource, type NetworkApi } from 'msw/experimental';
import type { Test } from 'tap';

export type MockNetwork = NetworkApi<[InterceptorSource]>;

/**
 * Intercepts every HTTP request of this process until the test ends. `handlers` answer first;
 * `network.use()` adds handlers in front of them, `network.resetHandlers()` drops those.
 */
export async function mockNetwork(t: Test, ...handlers: RequestHandler[]): Promise<MockNetwork> {
  const network = defineNetwork({
    sources: [new InterceptorSource({ interceptors: [new HttpRequestInterceptor()] })],
    handlers,
    onUnhandledFrame: 'error',
    context: { quiet: true },
  });
  await network.enable();
  t.teardown(() => network.disable());
  return network;
}
