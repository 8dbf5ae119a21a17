import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from '../../src/config/schema.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends Array<unknown> ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** The schema's defaults with `overrides` merged in: a whole Config for tests. */
export function testConfig(overrides: DeepPartial<Config> = {}): Config {
  const defaults = Value.Default(ConfigSchema, {}) as Config;
  return merge(defaults as unknown as Record<string, unknown>, overrides as Record<string, unknown>) as unknown as Config;
}
