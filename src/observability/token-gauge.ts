import { Gauge, type Registry } from 'prom-client';

/**
 * A gauge per key name, read from live state at every scrape: the values can never drift from
 * what they describe, and a key that is gone leaves no stale series behind.
 */
export function tokenGauge(registry: Registry, name: string, help: string, values: () => Iterable<readonly [token: string, value: number]>): Gauge<'token'> {
  return new Gauge({
    name,
    help,
    labelNames: ['token'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [token, value] of values()) this.set({ token }, value);
    },
  });
}
