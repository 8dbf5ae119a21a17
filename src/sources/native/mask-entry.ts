/**
 * Masking of one ingest entry before it touches disk: by key inside `metadata` (the policy's
 * rules, at any depth, inside arrays too) and by value pattern in every other string of the entry.
 */
import { maskObject } from '../../masking/mask-value.js';
import type { MaskingPolicy } from '../../masking/policy.js';
import type { IngestEntry } from '../../pipeline/types.js';

/**
 * A masked copy of `entry` without its metadata. The value patterns run over `service` and
 * `env` too: label-safe text can still spell a dashed card number, and labels reach Loki like
 * everything else.
 */
export function maskFields(entry: IngestEntry, policy: MaskingPolicy): IngestEntry {
  return {
    timestamp: entry.timestamp,
    level: entry.level,
    message: policy.maskText(entry.message),
    service: policy.maskText(entry.service),
    env: policy.maskText(entry.env),
  };
}

/** A masked copy of `entry`. */
export function maskEntry(entry: IngestEntry, policy: MaskingPolicy): IngestEntry {
  const masked = maskFields(entry, policy);
  if (entry.metadata !== undefined) masked.metadata = maskObject(entry.metadata, policy);
  return masked;
}
