/**
 * The Loki push path before the WAL: each stream's labels read, filtered (loki_push allow and
 * deny lists), masked and joined with `loki.static_labels` — which win over a client label of
 * the same name, the operator's setting being authoritative; each entry checked against Loki's
 * limits, masked, and encoded as the WAL payload the forwarder ships. All or nothing: one
 * problem anywhere and no payload is returned.
 *
 * The stream keeps its structured metadata as structured metadata and its line as the line,
 * whatever `loki.metadata_mode` says: that setting shapes entries of `/v1/logs:ingest`, while a
 * Loki client already chose its line and metadata.
 */
import type { Config } from '../../config/schema.js';
import { appendEntry } from '../../loki/entry-codec.js';
import { formatLabels, type LabelPairs } from '../../loki/entry.js';
import { labelProblems, labelProblemsBeforeMasking, sizeProblems, sizeProblemsBeforeMasking, timestampAndCountProblems } from '../../loki/limits.js';
import { maskPairs } from '../../masking/mask-value.js';
import { compilePolicies, type MaskingPolicy } from '../../masking/policy.js';
import { CpuTurns } from '../../pipeline/cpu-turns.js';
import type { Limits } from '../../pipeline/limits.js';
import type { PreparedBatch } from '../../pipeline/types.js';
import { AppendBatchBuilder } from '../../wal/append-batch.js';
import type { WalRoom } from '../../wal/types.js';
import { createLabelFilter, maxLabelTextLength, parseLabelText, type LokiPushConfig } from './loki-push-labels.js';
import type { LokiPushPipeline, LokiPushRequest, PushEntry, PushProblem, PushStream } from './loki-push-request.js';
import { metadataNameProblem, pushInvalid } from './loki-push-validate.js';

type StreamLabels = { readonly text: string } | { readonly problems: readonly string[] };

class Pipeline implements LokiPushPipeline {
  readonly #limits: Limits;
  readonly #push: LokiPushConfig;
  readonly #policies: Map<string, MaskingPolicy>;
  readonly #keep: (name: string) => boolean;
  readonly #staticLabels: LabelPairs;
  readonly #maxLabelText: number;
  readonly #turns = new CpuTurns();

  constructor(config: Config) {
    this.#limits = config.limits;
    this.#push = config.loki_push;
    this.#policies = compilePolicies(config);
    const filter = createLabelFilter(config.loki_push);
    this.#keep = (name) => filter(name) && !Object.hasOwn(config.loki.static_labels, name);
    this.#staticLabels = Object.entries(config.loki.static_labels);
    this.#maxLabelText = maxLabelTextLength(config.loki_push);
  }

  get maxMetadataPairs(): number {
    return this.#limits.max_metadata_keys;
  }

  async prepare(keyName: string, push: LokiPushRequest, nowMs: number, room?: WalRoom, clientGone?: AbortSignal): Promise<PreparedBatch> {
    const policy = this.#policies.get(keyName);
    if (policy === undefined) throw new TypeError(`No API key is named ${keyName}`);
    return this.#turns.run(keyName, () => this.#prepare(policy, push, nowMs, room), clientGone);
  }

  async #prepare(policy: MaskingPolicy, push: LokiPushRequest, nowMs: number, room: WalRoom | undefined): Promise<PreparedBatch> {
    const problems: PushProblem[] = [];
    const builder = new AppendBatchBuilder(room, { entries: push.entries });
    let invalid = 0;
    for (let s = 0; s < push.streams.length; s++) {
      const streamPause = this.#turns.pause();
      if (streamPause !== undefined) await streamPause;
      const stream = push.streams[s]!;
      const labels = this.#labelsOf(stream, policy);
      if ('problems' in labels) {
        for (const reason of labels.problems) problems.push({ stream: s, reason });
        invalid += stream.entries.length;
        continue;
      }
      for (let e = 0; e < stream.entries.length; e++) {
        const pause = this.#turns.pause();
        if (pause !== undefined) await pause;
        // Its own function: values that live across an `await` are boxed on the heap, per entry.
        const reasons = this.#addEntry(stream.entries[e]!, labels.text, policy, nowMs, problems.length === 0 ? builder : null);
        if (reasons.length === 0) continue;
        invalid++;
        for (const reason of reasons) problems.push({ stream: s, entry: e, reason });
      }
    }
    if (problems.length > 0) throw pushInvalid(problems, invalid, push.entries);
    const batch = builder.build();
    return { batch, entries: batch.entries, bytes: batch.data.length };
  }

  /**
   * Masks the entry and adds it to `builder`, or returns why Loki would refuse it. Without a
   * builder (the push is refused already) it is only checked: encoding it would be wasted.
   */
  #addEntry(entry: PushEntry, labels: string, policy: MaskingPolicy, nowMs: number, builder: AppendBatchBuilder | null): string[] {
    const metadataCount = entry.structuredMetadataCount ?? entry.structuredMetadata.length;
    const reasons = timestampAndCountProblems(entry.seconds, entry.nanos, metadataCount, this.#limits, nowMs);
    const forbidden = metadataNameProblem(entry.structuredMetadata);
    if (forbidden !== null) reasons.push(forbidden);
    reasons.push(...sizeProblemsBeforeMasking(entry.line, entry.structuredMetadata, this.#limits));
    if (reasons.length > 0) return reasons;
    const line = policy.maskText(entry.line);
    const structuredMetadata = maskPairs(entry.structuredMetadata, policy);
    const sizes = sizeProblems(line, structuredMetadata, this.#limits);
    if (sizes.length === 0 && builder !== null) appendEntry(builder, { seconds: entry.seconds, nanos: entry.nanos, labels, line, structuredMetadata });
    return sizes;
  }

  #labelsOf(stream: PushStream, policy: MaskingPolicy): StreamLabels {
    let pairs: LabelPairs;
    if (typeof stream.labels === 'string') {
      const parsed = parseLabelText(stream.labels, this.#maxLabelText);
      if (!parsed.ok) return { problems: [parsed.reason] };
      pairs = parsed.pairs;
    } else {
      pairs = stream.labels;
    }
    const kept = pairs.filter(([name]) => this.#keep(name));
    const tooLong = labelProblemsBeforeMasking(kept, this.#push);
    if (tooLong.length > 0) return { problems: tooLong };
    const all = [...maskPairs(kept, policy), ...this.#staticLabels];
    const problems = labelProblems(all, this.#push);
    return problems.length > 0 ? { problems } : { text: formatLabels(Object.fromEntries(all)) };
  }
}

/**
 * The Loki push pipeline of `config`. Throws CONFIG_INVALID for a custom value pattern that does
 * not compile, and TypeError when two API keys share a name but not a masking override.
 */
export function createLokiPushPipeline(config: Config): LokiPushPipeline {
  return new Pipeline(config);
}
