/**
 * The limits Loki's distributor enforces on a stream and on an entry, checked before LogStack
 * accepts them on every way in whose entries become Loki streams as sent (the push API, OTLP):
 * what Loki would refuse with a 400 later would only end as a dead letter, while refused now it
 * is the client's to fix. Sizes are UTF-8 bytes, as Loki counts them, of the masked line and
 * structured metadata: what reaches Loki.
 */
import type { Config } from '../config/schema.js';
import { overBeforeMasking, utf8ExceedsBytes, type Limits } from '../pipeline/limits.js';
import type { LabelPairs } from './entry.js';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Loki does not count it: Loki adds it itself (service name discovery). */
const SERVICE_NAME = 'service_name';

/** Longest label name quoted in a reason; names are client text. */
const MAX_QUOTED_NAME = 64;

function pairsBytes(pairs: LabelPairs): number {
  let bytes = 0;
  for (const [name, value] of pairs) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** Why Loki would refuse an entry with this timestamp (`nanos` as sent) and this many metadata pairs. */
export function timestampAndCountProblems(seconds: number, nanos: number, metadataCount: number, limits: Limits, nowMs: number): string[] {
  const problems: string[] = [];
  if (nanos >= 1e9) {
    problems.push('has a timestamp with nanos outside 0–999999999');
  } else {
    const ms = seconds * 1000 + Math.floor(nanos / 1e6);
    if (nowMs - ms > limits.max_past_seconds * 1000) {
      problems.push(`has a timestamp more than ${limits.max_past_seconds} s in the past (limits.max_past_seconds)`);
    } else if (ms - nowMs > limits.max_future_seconds * 1000) {
      problems.push(`has a timestamp more than ${limits.max_future_seconds} s in the future (limits.max_future_seconds)`);
    }
  }
  if (metadataCount > limits.max_metadata_keys) {
    problems.push(`has ${metadataCount} structured metadata pairs; at most ${limits.max_metadata_keys} are accepted (limits.max_metadata_keys)`);
  }
  return problems;
}

/** Why Loki would refuse an entry with this masked line and structured metadata. */
export function sizeProblems(line: string, structuredMetadata: LabelPairs, limits: Limits): string[] {
  const problems: string[] = [];
  if (utf8ExceedsBytes(line, limits.max_message_bytes)) {
    problems.push(`has a line longer than ${limits.max_message_bytes} UTF-8 bytes after masking (limits.max_message_bytes)`);
  }
  if (structuredMetadata.length > 0) {
    const bytes = pairsBytes(structuredMetadata);
    if (bytes > limits.max_structured_metadata_bytes) {
      problems.push(`has ${bytes} bytes of structured metadata after masking; at most ${limits.max_structured_metadata_bytes} (limits.max_structured_metadata_bytes)`);
    }
  }
  return problems;
}

function pairsUnits(pairs: LabelPairs): number {
  let units = 0;
  for (const [name, value] of pairs) units += name.length + value.length;
  return units;
}

/**
 * Why Loki would refuse an entry with this line and structured metadata as sent, however they
 * were masked: text too long for masking to bring under its limit (overBeforeMasking). Checked
 * before masking, so such text is never masked; what passes is checked again after (sizeProblems).
 */
export function sizeProblemsBeforeMasking(line: string, structuredMetadata: LabelPairs, limits: Limits): string[] {
  return sizeProblemsOfUnits(line.length, pairsUnits(structuredMetadata), limits);
}

/** sizeProblemsBeforeMasking of a line and structured metadata of these many UTF-16 units as sent. */
export function sizeProblemsOfUnits(lineUnits: number, units: number, limits: Limits): string[] {
  const problems: string[] = [];
  if (overBeforeMasking(lineUnits, limits.max_message_bytes)) {
    problems.push(`has a line longer than ${limits.max_message_bytes} UTF-8 bytes after masking (limits.max_message_bytes); refused before masking, at ${lineUnits} characters`);
  }
  if (overBeforeMasking(units, limits.max_structured_metadata_bytes)) {
    problems.push(`has more than ${limits.max_structured_metadata_bytes} bytes of structured metadata after masking (limits.max_structured_metadata_bytes); refused before masking, at ${units} characters`);
  }
  return problems;
}

/** Why Loki would refuse these labels for a value too long for masking to bring under its limit. */
export function labelProblemsBeforeMasking(pairs: LabelPairs, config: Config['loki_push']): string[] {
  const problems: string[] = [];
  pairs.forEach(([name, value], position) => {
    if (overBeforeMasking(value.length, config.max_label_value_length)) {
      problems.push(`${shownName(name, position)} has a value longer than ${config.max_label_value_length} bytes (loki_push.max_label_value_length); refused before masking, at ${value.length} characters`);
    }
  });
  return problems;
}

function shownName(name: string, position: number): string {
  return LABEL_NAME.test(name) && name.length <= MAX_QUOTED_NAME ? `label "${name}"` : `label ${position}`;
}

/**
 * Why Loki would refuse a stream with these labels (those that reach Loki: kept client labels
 * and static labels); empty when it would not. Lengths are UTF-8 bytes, as Loki counts them.
 */
export function labelProblems(pairs: LabelPairs, config: Config['loki_push']): string[] {
  const problems: string[] = [];
  if (pairs.length === 0) return ['has no labels; Loki needs at least one (mind loki_push.label_allowlist and label_denylist)'];
  const counted = pairs.filter(([name]) => name !== SERVICE_NAME).length;
  if (counted > config.max_label_names_per_series) {
    problems.push(`has ${counted} labels; Loki accepts at most ${config.max_label_names_per_series} (loki_push.max_label_names_per_series, loki.static_labels included)`);
  }
  const seen = new Set<string>();
  pairs.forEach(([name, value], position) => {
    const label = shownName(name, position);
    if (!LABEL_NAME.test(name)) {
      problems.push(`${label} has an invalid name: it must match [a-zA-Z_][a-zA-Z0-9_]*`);
    } else if (name.startsWith('__')) {
      problems.push(`${label} starts with __, which Loki reserves`);
    } else if (Buffer.byteLength(name) > config.max_label_name_length) {
      problems.push(`${label} has a name longer than ${config.max_label_name_length} bytes (loki_push.max_label_name_length)`);
    }
    if (seen.has(name)) problems.push(`${label} appears twice`);
    seen.add(name);
    if (Buffer.byteLength(value) > config.max_label_value_length) {
      problems.push(`${label} has a value longer than ${config.max_label_value_length} bytes (loki_push.max_label_value_length)`);
    }
  });
  return problems;
}
