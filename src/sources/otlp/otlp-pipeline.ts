/**
 * The OTLP path before the WAL: each log record mapped to the Loki entry Loki's own OTLP
 * ingestion would make of it, masked with the policy of the API key, checked against Loki's
 * limits, and encoded into the batch the WAL appends.
 *
 * The mapping (Loki's `pkg/loghttp/push/otlp.go`):
 * - labels: the resource attributes named in `otlp.index_labels`, names normalised (`service.name`
 *   → `service_name`), maps flattened; `service_name` is discovered from other labels or set to
 *   `unknown_service` when the resource has no `service.name`; `loki.static_labels` win;
 * - the line: the body, a string as it is, anything else as its text (a map or array as JSON);
 * - structured metadata, in Loki's order: the log attributes, `observed_timestamp` (when both
 *   timestamps are set), `severity_number`, `severity_text`, `dropped_attributes_count`, `flags`,
 *   `trace_id`, `span_id` (hex), `event_name`, then the other resource attributes, then the scope
 *   attributes, `scope_name`, `scope_version`, `scope_dropped_attributes_count`;
 * - the timestamp: `time_unix_nano`, else `observed_time_unix_nano`, else now, to the nanosecond.
 *
 * Records are independent: one that breaks a limit is rejected and the others are accepted, as
 * OTLP's partial success allows; a resource whose labels Loki would refuse rejects its records.
 */
import type { Config } from '../../config/schema.js';
import { appendEntry } from '../../loki/entry-codec.js';
import { formatLabels } from '../../loki/entry.js';
import { labelProblems, sizeProblems, sizeProblemsOfUnits, timestampAndCountProblems } from '../../loki/limits.js';
import { CpuTurns } from '../../pipeline/cpu-turns.js';
import { overBeforeMasking, type Limits } from '../../pipeline/limits.js';
import { AppendBatchBuilder, type AppendBatch } from '../../wal/append-batch.js';
import type { WalRoom } from '../../wal/types.js';
import { AttributeNames, attributePairs, attributesUnits, rawUnits, stringBody, valueText, ValueRefused, type Pairs, type ValueContext } from './any-value.js';
import { compileOtlpMaskers } from './otlp-masking.js';
import { int64Value, type ExportLogsRequest, type KeyValue, type LogRecord, type ResourceLogs, type ScopeLogs } from './otlp-proto.js';

export type OtlpConfig = Config['otlp'];

/** One rejected record (or resource), for the partial success message; never quotes a value. */
export interface OtlpProblem {
  /** `resource_logs[0].scope_logs[1].log_records[2]`, or a resource alone for its labels. */
  readonly where: string;
  readonly reason: string;
}

export interface PreparedExport {
  /** The accepted records, in request order, with their label sets once each. */
  readonly batch: AppendBatch;
  readonly accepted: number;
  readonly rejected: number;
  /** Why records were rejected, the first few: see MAX_LISTED_PROBLEMS. */
  readonly problems: readonly OtlpProblem[];
}

export interface OtlpPipeline {
  /**
   * Maps, masks (with the policy of key `keyName`), checks and encodes every record of
   * `request`. With `room`, the WAL's room is checked before each record is encoded: a request
   * it cannot take is refused whole with the WAL's error (WAL_QUOTA_EXCEEDED, WAL_DISK_RESERVE,
   * ...) before it is built, as on the other routes. One request at a time, in turns, unless
   * `clientGone` is aborted by its turn.
   */
  prepare(keyName: string, request: ExportLogsRequest, nowMs: number, room?: WalRoom, clientGone?: AbortSignal): Promise<PreparedExport>;
}

/** Problems kept for the partial success message: enough to see what is wrong, short to read. */
export const MAX_LISTED_PROBLEMS = 10;

const SERVICE_NAME = 'service.name';
const SERVICE_NAME_LABEL = 'service_name';
const UNKNOWN_SERVICE = 'unknown_service';
/** Loki's `discover_service_name` default: labels a missing `service.name` is taken from. */
const SERVICE_NAME_SOURCES: ReadonlySet<string> = new Set([
  'service',
  'app',
  'application',
  'app_name',
  'name',
  'app_kubernetes_io_name',
  'container',
  'container_name',
  'k8s_container_name',
  'component',
  'workload',
  'job',
  'k8s_job_name',
]);

const NS_PER_SECOND = 1_000_000_000n;

type StreamLabels = { readonly text: string; readonly metadata: Pairs } | { readonly problems: readonly string[] };

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** An id of zeros is no id, for OTLP and for Loki, which leaves it out. */
function isSet(id: Uint8Array): boolean {
  return id.some((byte) => byte !== 0);
}

function scopeMetadata(scope: ScopeLogs['scope'], context: ValueContext): Pairs {
  const pairs: Pairs = [];
  if (scope === null) return pairs;
  for (const attribute of scope.attributes) attributePairs(pairs, attribute, context, 1);
  if (scope.name !== '') pairs.push(['scope_name', context.masker.text(scope.name)]);
  if (scope.version !== '') pairs.push(['scope_version', context.masker.text(scope.version)]);
  if (scope.droppedAttributesCount !== 0) pairs.push(['scope_dropped_attributes_count', String(scope.droppedAttributesCount)]);
  return pairs;
}

/** OTLP's lengths of a trace id and a span id, in bytes. */
const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;

/**
 * An id as Loki writes it (hex). One of OTLP's length is an id, whatever digits its hex spells
 * (about 1 random span id in 1,800 is all decimal digits): it is kept. One of another length is
 * no id but bytes a client chose, masked as text, so `4111111111111111` sent as a trace id is
 * not a way around the card rule.
 */
function idText(id: Uint8Array, length: number, context: ValueContext): string {
  return id.length === length ? hex(id) : context.masker.text(hex(id));
}

/**
 * `observed_timestamp`: a time within the window records are accepted in is a time and is kept
 * (ns since the epoch have 19 digits and may pass a Luhn check); any other is digits a client
 * chose, masked as an integer is.
 */
function observedText(observed: bigint, context: ValueContext, limits: Limits, nowMs: number): string {
  const ms = Number(observed / 1_000_000n);
  const near = nowMs - ms <= limits.max_past_seconds * 1000 && ms - nowMs <= limits.max_future_seconds * 1000;
  return near ? observed.toString() : context.masker.integer(observed.toString());
}

/** The record's own structured metadata, before the resource's and the scope's. */
function recordMetadata(record: LogRecord, context: ValueContext, limits: Limits, nowMs: number): Pairs {
  const pairs: Pairs = [];
  for (const attribute of record.attributes) attributePairs(pairs, attribute, context, 1);
  const time = int64Value(record.timeUnixNano);
  const observed = int64Value(record.observedTimeUnixNano);
  if (time !== 0n && observed !== 0n) pairs.push(['observed_timestamp', observedText(observed, context, limits, nowMs)]);
  if (record.severityNumber !== 0) pairs.push(['severity_number', String(record.severityNumber)]);
  if (record.severityText !== '') pairs.push(['severity_text', context.masker.text(record.severityText)]);
  if (record.droppedAttributesCount !== 0) pairs.push(['dropped_attributes_count', String(record.droppedAttributesCount)]);
  if (record.flags !== 0) pairs.push(['flags', String(record.flags >>> 0)]);
  if (isSet(record.traceId)) pairs.push(['trace_id', idText(record.traceId, TRACE_ID_BYTES, context)]);
  if (isSet(record.spanId)) pairs.push(['span_id', idText(record.spanId, SPAN_ID_BYTES, context)]);
  if (record.eventName !== '') pairs.push(['event_name', context.masker.text(record.eventName)]);
  return pairs;
}

/** UTF-16 units, as sent, of the text a record's own structured metadata is made of. */
function recordUnits(record: LogRecord, maxDepth: number): number {
  let units = attributesUnits(record.attributes, 1, maxDepth) + record.severityText.length + record.eventName.length;
  // An id of the wrong length is masked as the text of its hex.
  if (record.traceId.length !== TRACE_ID_BYTES) units += 2 * record.traceId.length;
  if (record.spanId.length !== SPAN_ID_BYTES) units += 2 * record.spanId.length;
  return units;
}

/** The reason attributes of `what` (a scope, a resource) too long to be masked are refused for. */
function tooLongForMetadata(what: string, units: number, limits: Limits): string {
  const max = limits.max_structured_metadata_bytes;
  return `${what} attributes are ${units} characters, more than masking could bring under ${max} bytes of structured metadata (limits.max_structured_metadata_bytes)`;
}

/** `time_unix_nano`, else `observed_time_unix_nano`, else now: nanoseconds since the epoch. */
function timestampNs(record: LogRecord, nowMs: number): bigint {
  const time = int64Value(record.timeUnixNano);
  if (time !== 0n) return time;
  const observed = int64Value(record.observedTimeUnixNano);
  return observed !== 0n ? observed : BigInt(nowMs) * 1_000_000n;
}

class Pipeline implements OtlpPipeline {
  readonly #limits: Limits;
  readonly #lokiPush: Config['loki_push'];
  readonly #indexLabels: ReadonlySet<string>;
  readonly #staticLabels: Pairs;
  /** Per API key: its masker, the nesting bound, and the names its attribute keys become. */
  readonly #contexts = new Map<string, ValueContext>();
  readonly #turns = new CpuTurns();

  constructor(config: Config) {
    this.#limits = config.limits;
    this.#lokiPush = config.loki_push;
    this.#indexLabels = new Set(config.otlp.index_labels);
    this.#staticLabels = Object.entries(config.loki.static_labels);
    const limits = { maxKeyBytes: config.loki_push.max_label_name_length, maxPairs: config.limits.max_metadata_keys, maxBytes: config.limits.max_structured_metadata_bytes };
    for (const [name, masker] of compileOtlpMaskers(config)) {
      this.#contexts.set(name, { masker, maxDepth: config.limits.max_metadata_depth, limits, names: new AttributeNames(masker, limits.maxKeyBytes) });
    }
  }

  async prepare(keyName: string, request: ExportLogsRequest, nowMs: number, room?: WalRoom, clientGone?: AbortSignal): Promise<PreparedExport> {
    const context = this.#contexts.get(keyName);
    if (context === undefined) throw new TypeError(`No API key is named ${keyName}`);
    return this.#turns.run(keyName, () => this.#prepare(context, request, nowMs, room), clientGone);
  }

  async #prepare(context: ValueContext, request: ExportLogsRequest, nowMs: number, room: WalRoom | undefined): Promise<PreparedExport> {
    const batch = new AppendBatchBuilder(room);
    const problems: OtlpProblem[] = [];
    let rejected = 0;
    const reject = (where: string, reasons: readonly string[], records = 1): void => {
      // The attribute names a rejected record (or resource, or scope) taught the cache go again.
      context.names.abandon();
      rejected += records;
      for (const reason of reasons) if (problems.length < MAX_LISTED_PROBLEMS) problems.push({ where, reason });
    };

    for (let r = 0; r < request.resourceLogs.length; r++) {
      const resource = request.resourceLogs[r]!;
      // A resource or scope without records makes no entry: its labels and metadata are not worked out.
      if (!resource.scopeLogs.some((scope) => scope.logRecords.length > 0)) continue;
      const resourcePause = this.#turns.pause();
      if (resourcePause !== undefined) await resourcePause;
      const stream = this.#streamOf(resource, context);
      if ('problems' in stream) {
        reject(`resource_logs[${r}]`, stream.problems, resource.scopeLogs.reduce((n, scope) => n + scope.logRecords.length, 0));
        continue;
      }
      for (let s = 0; s < resource.scopeLogs.length; s++) {
        const scope = resource.scopeLogs[s]!;
        if (scope.logRecords.length === 0) continue;
        const scopeUnits = scope.scope === null ? 0 : attributesUnits(scope.scope.attributes, 1, context.maxDepth) + scope.scope.name.length + scope.scope.version.length;
        if (overBeforeMasking(scopeUnits, this.#limits.max_structured_metadata_bytes)) {
          reject(`resource_logs[${r}].scope_logs[${s}]`, [tooLongForMetadata('its scope', scopeUnits, this.#limits)], scope.logRecords.length);
          continue;
        }
        let scopePairs: Pairs;
        try {
          scopePairs = scopeMetadata(scope.scope, context);
        } catch (err) {
          if (!(err instanceof ValueRefused)) throw err;
          reject(`resource_logs[${r}].scope_logs[${s}]`, [`its scope attribute ${err.message}`], scope.logRecords.length);
          continue;
        }
        for (let l = 0; l < scope.logRecords.length; l++) {
          const pause = this.#turns.pause();
          if (pause !== undefined) await pause;
          const reasons = this.#encode(scope.logRecords[l]!, stream, scopePairs, context, nowMs, batch);
          if (reasons.length > 0) reject(`resource_logs[${r}].scope_logs[${s}].log_records[${l}]`, reasons);
          else context.names.commit();
        }
      }
    }
    // Names of a resource or scope without records served none.
    context.names.abandon();
    return { batch: batch.build(), accepted: batch.entries, rejected, problems };
  }

  /** Adds the record to `batch`, or returns why Loki would refuse it. */
  #encode(record: LogRecord, stream: { readonly text: string; readonly metadata: Pairs }, scopePairs: Pairs, context: ValueContext, nowMs: number, batch: AppendBatchBuilder): string[] {
    const ns = timestampNs(record, nowMs);
    const seconds = Number(ns / NS_PER_SECOND);
    const nanos = Number(ns % NS_PER_SECOND);
    const metadataCount = record.attributes.length + stream.metadata.length + scopePairs.length;
    // Before masking: a record refused for its time or its attribute count costs nothing more.
    const early = timestampAndCountProblems(seconds, nanos, metadataCount, this.#limits, nowMs);
    early.push(...sizeProblemsOfUnits(rawUnits(record.body, 1, context.maxDepth), recordUnits(record, context.maxDepth), this.#limits));
    if (early.length > 0) return early;
    let line: string;
    let structuredMetadata: Pairs;
    try {
      const text = stringBody(record.body);
      line = text === null ? valueText(record.body, context, 1) : context.masker.line(text);
      structuredMetadata = recordMetadata(record, context, this.#limits, nowMs);
    } catch (err) {
      if (err instanceof ValueRefused) return [`its body or an attribute ${err.message}`];
      throw err;
    }
    structuredMetadata.push(...stream.metadata, ...scopePairs);
    // The count again, now that maps are flattened; the timestamp passed already.
    const reasons = [...timestampAndCountProblems(seconds, nanos, structuredMetadata.length, this.#limits, nowMs), ...sizeProblems(line, structuredMetadata, this.#limits)];
    if (reasons.length === 0) appendEntry(batch, { seconds, nanos, labels: stream.text, line, structuredMetadata });
    return reasons;
  }

  /**
   * Why the resource's attributes as sent could not fit Loki's limits however they were masked
   * (overBeforeMasking), else null: its labels' values, each within the bytes all of a stream's
   * labels may have, and its other attributes, structured metadata of every record.
   */
  #resourceProblemsBeforeMasking(attributes: readonly KeyValue[], context: ValueContext): string | null {
    const labelBytes = this.#lokiPush.max_label_value_length * this.#lokiPush.max_label_names_per_series;
    let metadataUnits = 0;
    for (const attribute of attributes) {
      const units = attribute.key.length + rawUnits(attribute.value, 2, context.maxDepth);
      if (!this.#indexLabels.has(attribute.key)) {
        metadataUnits += units;
      } else if (overBeforeMasking(units, labelBytes)) {
        return `a resource attribute made a label is ${units} characters, more than masking could bring under ${labelBytes} bytes of label values (loki_push.max_label_value_length × loki_push.max_label_names_per_series)`;
      }
    }
    return overBeforeMasking(metadataUnits, this.#limits.max_structured_metadata_bytes) ? tooLongForMetadata('its resource', metadataUnits, this.#limits) : null;
  }

  /** The resource's stream labels and the structured metadata of its other attributes. */
  #streamOf(resource: ResourceLogs, context: ValueContext): StreamLabels {
    const labels = new Map<string, string>();
    const metadata: Pairs = [];
    const attributes = resource.resource?.attributes ?? [];
    const tooLong = this.#resourceProblemsBeforeMasking(attributes, context);
    if (tooLong !== null) return { problems: [tooLong] };
    // The label service_name comes from: service.name, else the first label Loki discovers it in.
    let serviceName: string | null = null;
    try {
      if (attributes.some((a) => a.key === SERVICE_NAME && valueText(a.value, context, 2) !== '')) serviceName = SERVICE_NAME;
      for (const attribute of attributes) {
        if (!this.#indexLabels.has(attribute.key)) {
          attributePairs(metadata, attribute, context, 1);
          continue;
        }
        const pairs: Pairs = [];
        attributePairs(pairs, attribute, context, 1);
        for (const [name, value] of pairs) {
          labels.set(name, value);
          if (serviceName === null && SERVICE_NAME_SOURCES.has(name)) serviceName = name;
        }
      }
    } catch (err) {
      if (err instanceof ValueRefused) return { problems: [`a resource attribute ${err.message}`] };
      throw err;
    }
    if (serviceName === null) labels.set(SERVICE_NAME_LABEL, UNKNOWN_SERVICE);
    else if (serviceName !== SERVICE_NAME && !labels.has(SERVICE_NAME_LABEL)) labels.set(SERVICE_NAME_LABEL, labels.get(serviceName)!);
    for (const [name, value] of this.#staticLabels) labels.set(name, value);
    const pairs = [...labels];
    const problems = labelProblems(pairs, this.#lokiPush);
    return problems.length > 0 ? { problems } : { text: formatLabels(Object.fromEntries(pairs)), metadata };
  }
}

/** The OTLP pipeline of `config`. Throws like the other pipelines for a bad masking config. */
export function createOtlpPipeline(config: Config): OtlpPipeline {
  return new Pipeline(config);
}
