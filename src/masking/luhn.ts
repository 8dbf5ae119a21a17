/**
 * The Luhn (mod 10) check of card numbers. It keeps the card pattern from masking order ids and
 * other long numbers: a random digit string passes only one time in ten.
 */

const DOUBLED = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/**
 * Luhn sums of digits fed left to right, so that every prefix can be checked in O(1). The check
 * doubles every second digit counted from the right end, which for a prefix of n digits means
 * the digits whose left position has the parity opposite to n - 1: both sums are kept. Checking
 * every span of a long digit run this way stays linear in its length.
 */
export class LuhnPrefix {
  #evenPositionsDoubled = 0;
  #oddPositionsDoubled = 0;
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** Whether the digits fed so far pass the check. */
  get valid(): boolean {
    if (this.#count === 0) return false;
    const sum = this.#count % 2 === 1 ? this.#oddPositionsDoubled : this.#evenPositionsDoubled;
    return sum % 10 === 0;
  }

  /** `digit` is 0–9. */
  push(digit: number): void {
    if (this.#count % 2 === 0) {
      this.#evenPositionsDoubled += DOUBLED[digit]!;
      this.#oddPositionsDoubled += digit;
    } else {
      this.#evenPositionsDoubled += digit;
      this.#oddPositionsDoubled += DOUBLED[digit]!;
    }
    this.#count++;
  }

  reset(): void {
    this.#evenPositionsDoubled = 0;
    this.#oddPositionsDoubled = 0;
    this.#count = 0;
  }
}
