import { Ajv } from 'ajv';
import { ConfigSchema, type Config } from '../../src/config/schema.js';

const validate = new Ajv({ useDefaults: true, allErrors: true, strict: true }).compile<Config>({ ...ConfigSchema, default: undefined });

/** Token of the key named `app` in `testConfig()`. */
export const APP_TOKEN = 'tok_app_0123456789abcdef';

/**
 * A complete config: the schema's defaults under `overrides` (merged one section deep), with an
 * API key named `app` unless `overrides.security` brings its own keys.
 */
export function testConfig(overrides: Record<string, Record<string, unknown>> = {}): Config {
  const input: Record<string, Record<string, unknown>> = { security: { api_keys: { [APP_TOKEN]: { name: 'app' } } } };
  for (const [section, values] of Object.entries(structuredClone(overrides))) input[section] = { ...input[section], ...values };
  if (!validate(input)) throw new TypeError(`test config is invalid: ${JSON.stringify(validate.errors)}`);
  return input as unknown as Config;
}
