/**
 * The forwarder's metrics, in the style of the original's: `token` is the key's name, `reason`
 * and `outcome` come from fixed sets, never from free text of Loki's.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Forwarder, ForwarderObserver, LaneHealth } from '../forwarder/forwarder.js';
import type { PushOutcome } from '../forwarder/push-outcome.js';
import { tokenGauge } from './token-gauge.js';

const PUSH_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// From append to Loki's acknowledgement: ~batch_max_wait_ms when healthy, hours during an outage.
const DELIVERY_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400];
const HEALTH_VALUE: Record<LaneHealth, number> = { ok: 0, retrying: 1, failing: 2, paused: 3 };

function statusClass(outcome: PushOutcome): string {
  return outcome.status === null ? 'none' : `${Math.floor(outcome.status / 100)}xx`;
}

export interface ForwarderMetricsSources {
  readonly forwarder: () => Forwarder | undefined;
  /** Whether Loki answered its last readiness probe. */
  readonly lokiUp: () => boolean | null;
}

export function forwarderMetrics(registry: Registry, sources: ForwarderMetricsSources): ForwarderObserver {
  const registers = [registry];
  const pushes = new Counter({
    name: 'loki_push_requests_total',
    help: 'Pushes to Loki by outcome (success, retryable, split, rejected, misconfigured) and HTTP status class',
    labelNames: ['token', 'outcome', 'status_class'],
    registers,
  });
  const pushDuration = new Histogram({
    name: 'loki_push_duration_seconds',
    help: 'Time from sending a push to the end of Loki’s answer',
    labelNames: ['outcome'],
    buckets: PUSH_SECONDS_BUCKETS,
    registers,
  });
  const retries = new Counter({ name: 'loki_push_retries_total', help: 'Pushes that will be retried, by reason', labelNames: ['token', 'reason'], registers });
  const forwarded = new Counter({ name: 'logs_forwarded_total', help: 'Entries acknowledged by Loki', labelNames: ['token'], registers });
  const forwardedBytes = new Counter({ name: 'logs_forwarded_bytes_total', help: 'WAL payload bytes acknowledged by Loki', labelNames: ['token'], registers });
  const deadLettered = new Counter({
    name: 'logs_dead_lettered_total',
    help: 'Entries Loki refused for good, written to the dead-letter store, by reason',
    labelNames: ['token', 'reason'],
    registers,
  });
  const deadDropped = new Counter({ name: 'dead_letters_dropped_total', help: 'Dead letters dropped to stay within the dead-letter quota', labelNames: ['token'], registers });
  const deadDamaged = new Counter({
    name: 'dead_letter_damaged_lines_total',
    help: 'Lines of the dead-letter store that could not be read or replayed (torn by a crash, damaged); kept in a .torn or .damaged file',
    labelNames: ['token'],
    registers,
  });
  const deliveryLatency = new Histogram({
    name: 'logs_delivery_latency_seconds',
    help: 'Time from an entry’s append to the WAL to Loki’s acknowledgement',
    labelNames: ['token'],
    buckets: DELIVERY_SECONDS_BUCKETS,
    registers,
  });

  const laneGauge = (name: string, help: string, read: (s: ReturnType<Forwarder['status']>[number]) => number) =>
    tokenGauge(registry, name, help, () => (sources.forwarder()?.status() ?? []).map((s) => [s.token, read(s)] as const));
  laneGauge('forwarder_token_health', 'Delivery health of a token: 0 ok, 1 retrying, 2 failing (past max_retries), 3 paused (Loki refuses LogStack)', (s) => HEALTH_VALUE[s.health]);
  laneGauge('dead_letter_entries', 'Entries in the dead-letter store of a token', (s) => s.deadLetters);

  new Gauge({
    name: 'loki_up',
    help: 'Whether Loki answered its last readiness probe (1) or not (0)',
    registers,
    collect() {
      const up = sources.lokiUp();
      if (up === null) this.reset();
      else this.set(up ? 1 : 0);
    },
  });

  return {
    pushed(token, outcome, latencyMs) {
      pushes.inc({ token, outcome: outcome.kind, status_class: statusClass(outcome) });
      pushDuration.observe({ outcome: outcome.kind }, latencyMs / 1000);
      if (outcome.kind === 'retryable') retries.inc({ token, reason: outcome.reason });
    },
    delivered(token, entries, payloadBytes, ages) {
      forwarded.inc({ token }, entries);
      forwardedBytes.inc({ token }, payloadBytes);
      // One label lookup per batch, not per entry: a batch is thousands of entries.
      const latency = deliveryLatency.labels({ token });
      for (const age of ages) latency.observe(age);
    },
    deadLetterDamaged(token, _file, lines) {
      deadDamaged.inc({ token }, lines);
    },
    deadLettered(token, reason, entries, dropped) {
      deadLettered.inc({ token, reason }, entries);
      if (dropped > 0) deadDropped.inc({ token }, dropped);
    },
  };
}
