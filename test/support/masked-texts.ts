import type { Test } from 'tap';
import { compilePolicies } from '../../src/masking/policy.js';
import { testConfig } from './config.js';

/**
 * Records the length of every text the masking policies mask (`maskText`, which every way in
 * masks lines and values through) while test `t` runs: what a pipeline masked, without a stub.
 */
export function maskedTexts(t: Test): number[] {
  const proto = Object.getPrototypeOf(compilePolicies(testConfig()).get('app')) as { maskText(text: string): string };
  const maskText = proto.maskText;
  const lengths: number[] = [];
  proto.maskText = function (this: unknown, text: string): string {
    lengths.push(text.length);
    return maskText.call(this, text);
  };
  t.teardown(() => {
    proto.maskText = maskText;
  });
  return lengths;
}

/** A `Cookie:` header of distinct cookies, `chars` long: among the costliest text to mask. */
export function cookieHeader(chars: number): string {
  const parts = ['Cookie: '];
  let length = parts[0]!.length;
  for (let i = 0; length < chars; i++) {
    const part = `c${i.toString(36)}key=v; `;
    parts.push(part);
    length += part.length;
  }
  return parts.join('').slice(0, chars);
}
