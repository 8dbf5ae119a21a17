/**
 * The parts of the HTTP edge a configuration reload replaces — the keyring and the ingest
 * pipelines with masking compiled per key — held as one value. Each request takes the value
 * current when it arrives, before anything else is done with it, and keeps it to its end: a
 * request in flight during a reload finishes under the configuration it started with (its key
 * still known to its pipeline if the reload removed it), and never authenticates under one
 * configuration to be masked under another.
 */
import fp from 'fastify-plugin';
import type { Config } from '../config/schema.js';
import { compileMaskingPolicy, type MaskingPolicy } from '../masking/policy.js';
import type { IngestPipeline } from '../pipeline/types.js';
import { createLokiPushPipeline } from '../sources/loki-push/loki-push-pipeline.js';
import type { LokiPushPipeline } from '../sources/loki-push/loki-push-request.js';
import { createIngestPipeline } from '../sources/native/ingest-pipeline.js';
import { createOtlpPipeline, type OtlpPipeline } from '../sources/otlp/otlp-pipeline.js';
import { createKeyring, type Keyring } from './auth.js';

export interface EdgeSettings {
  readonly keyring: Keyring;
  readonly ingest: IngestPipeline;
  /** Null when `loki_push.enabled` is false. */
  readonly lokiPush: LokiPushPipeline | null;
  /** Null when `otlp.enabled` is false. */
  readonly otlp: OtlpPipeline | null;
  /** The `masking` section's own policy, for what a client sends before its key is known (request-id.ts). */
  readonly masking: MaskingPolicy;
}

export interface LiveEdgeSettings {
  readonly current: EdgeSettings;
  /** For requests that arrive from now on. */
  apply(next: EdgeSettings): void;
}

/**
 * The edge settings of `config`, compiled. Throws CONFIG_INVALID for a custom value pattern that
 * does not compile, before anything is in use.
 */
export function buildEdgeSettings(config: Config): EdgeSettings {
  return {
    keyring: createKeyring(config.security),
    ingest: createIngestPipeline(config),
    lokiPush: config.loki_push.enabled ? createLokiPushPipeline(config) : null,
    otlp: config.otlp.enabled ? createOtlpPipeline(config) : null,
    masking: compileMaskingPolicy(config.masking),
  };
}

export function liveEdgeSettings(initial: EdgeSettings): LiveEdgeSettings {
  let current = initial;
  return {
    get current() {
      return current;
    },
    apply(next) {
      current = next;
    },
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The edge settings this request runs under, taken when it arrived. */
    settings: EdgeSettings;
  }
}

export const edgeSettingsPlugin = fp<{ settings: LiveEdgeSettings }>(
  async (app, { settings }) => {
    app.decorateRequest('settings', null as unknown as EdgeSettings);
    app.addHook('onRequest', async (request) => {
      request.settings = settings.current;
    });
  },
  { name: 'logstack-edge-settings', fastify: '5.x' },
);
