/**
 * Decimal digits of every script in the Basic Multilingual Plane (`0-9`, full-width `０-９`,
 * Arabic-Indic `٠-٩`, Devanagari `०-९`, …): a card number written in any of them is a card
 * number. Unicode encodes each script's digits as ten consecutive code points from its zero, so
 * a digit's value is its distance from the zero of its block.
 */

function digitZeros(): number[] {
  const plane = Array.from({ length: 0x10000 }, (_, code) => (code >= 0xd800 && code <= 0xdfff ? ' ' : String.fromCharCode(code))).join('');
  const zeros: number[] = [];
  for (const match of plane.matchAll(/\p{Nd}{10}/gu)) zeros.push(match.index);
  return zeros;
}

const ZEROS = digitZeros();

/** Value of each BMP code point that is a decimal digit, -1 for every other. */
const VALUES = new Int8Array(0x10000).fill(-1);
for (const zero of ZEROS) for (let d = 0; d < 10; d++) VALUES[zero + d] = d;

const hex = (code: number): string => `\\u${code.toString(16).padStart(4, '0')}`;

/** A regular expression character class (without the `u` flag) of every BMP decimal digit. */
export const DIGIT_CLASS = `[${ZEROS.map((zero) => `${hex(zero)}-${hex(zero + 9)}`).join('')}]`;

/** 0–9 for a decimal digit of any script, -1 for any other UTF-16 code unit. */
export function digitValue(code: number): number {
  return VALUES[code]!;
}
