import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config } from '../src/config/schema.js';

/** The schema's defaults: what a user gets without configuring masking or limits. */
export function testConfigForBench(): Config {
  return Value.Default(ConfigSchema, {}) as Config;
}
