/**
 * Whether Loki is reachable and ready, for /readyz and the admin status: `GET {base_url}/ready`,
 * asked at most once per `loki.ready_check_interval_seconds`. Gateways in front of Loki often
 * do not route `/ready`; on 404 the base URL itself is asked, and any 2xx there counts as reachable.
 */
import type { LokiClient } from './loki-client.js';

/**
 * Longest a probe may take (ms). Kubernetes probes give up after 1 s by default; a hung Loki
 * must make /readyz say "not ready", not make it time out.
 */
export const DEFAULT_PROBE_TIMEOUT_MS = 2000;

export interface LokiReadiness {
  readonly ok: boolean;
  readonly detail: string;
  readonly checkedAtMs: number;
}

export interface LokiHealthOptions {
  /** `loki.ready_check_interval_seconds` in ms: how long a result is reused. */
  readonly intervalMs: number;
  readonly probeTimeoutMs?: number;
  /** Clock (ms); injected so caching is tested without waiting. */
  readonly now?: () => number;
}

export interface LokiHealth {
  /** The cached readiness, probing Loki when it is older than the interval. Never rejects. */
  check(): Promise<LokiReadiness>;
  /** The last result without probing; null before the first check. */
  readonly last: LokiReadiness | null;
}

function brief(body: string): string {
  const line = body.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

class CachedLokiHealth implements LokiHealth {
  readonly #client: Pick<LokiClient, 'get'>;
  readonly #intervalMs: number;
  readonly #probeTimeoutMs: number;
  readonly #now: () => number;
  #last: LokiReadiness | null = null;
  #inFlight: Promise<LokiReadiness> | null = null;

  constructor(client: Pick<LokiClient, 'get'>, options: LokiHealthOptions) {
    this.#client = client;
    this.#intervalMs = options.intervalMs;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
  }

  get last(): LokiReadiness | null {
    return this.#last;
  }

  check(): Promise<LokiReadiness> {
    const last = this.#last;
    if (last !== null && this.#now() - last.checkedAtMs < this.#intervalMs) return Promise.resolve(last);
    // Concurrent /readyz requests share one probe instead of each asking Loki.
    this.#inFlight ??= this.#probe().then((result) => {
      this.#last = result;
      this.#inFlight = null;
      return result;
    });
    return this.#inFlight;
  }

  async #probe(): Promise<LokiReadiness> {
    const { ok, detail } = await this.#ask();
    return { ok, detail, checkedAtMs: this.#now() };
  }

  async #ask(): Promise<{ ok: boolean; detail: string }> {
    try {
      const ready = await this.#client.get('/ready', this.#probeTimeoutMs);
      if (ready.status === 200) return { ok: true, detail: 'ready' };
      if (ready.status !== 404) return { ok: false, detail: `/ready answered ${ready.status}: ${brief(ready.body)}` };
      const root = await this.#client.get('/', this.#probeTimeoutMs);
      if (root.status >= 200 && root.status < 300) return { ok: true, detail: `reachable (no /ready; / answered ${root.status})` };
      return { ok: false, detail: `/ready answered 404 and / answered ${root.status}: ${brief(root.body)}` };
    } catch (err) {
      return { ok: false, detail: `unreachable: ${(err as Error).message}` };
    }
  }
}

export function createLokiHealth(client: Pick<LokiClient, 'get'>, options: LokiHealthOptions): LokiHealth {
  return new CachedLokiHealth(client, options);
}
