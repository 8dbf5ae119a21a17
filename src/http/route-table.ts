import fp from 'fastify-plugin';
import { routeTemplate } from './route-label.js';

/** Path (as users write it) → its methods. Our paths have no parameters, so a lookup by path is exact. */
export type RouteTable = ReadonlyMap<string, ReadonlySet<string>>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after this plugin: for `GET /` and for 405 answers. */
    routeTable: RouteTable;
  }
}

export const routeTablePlugin = fp(
  async (app) => {
    const table = new Map<string, Set<string>>();
    app.addHook('onRoute', (route) => {
      const path = routeTemplate(route.url);
      const methods = table.get(path) ?? new Set<string>();
      for (const method of [route.method].flat()) methods.add(method);
      table.set(path, methods);
    });
    app.decorate('routeTable', table);
  },
  { name: 'logstack-route-table', fastify: '5.x' },
);
