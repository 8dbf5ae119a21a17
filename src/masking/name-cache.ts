/**
 * What the key rules decided for the names met so far. Names come from clients, so the cache is
 * bounded: at most `maxNames` names of at most `maxNameChars` characters each (longer names are
 * judged every time, and are rare); past the bound it starts over. Bounded in entries and in
 * characters per entry, it is bounded in bytes.
 */
export class NameCache<V> {
  readonly #maxNames: number;
  readonly #maxNameChars: number;
  readonly #entries = new Map<string, V>();

  constructor(maxNames: number, maxNameChars: number) {
    this.#maxNames = maxNames;
    this.#maxNameChars = maxNameChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(name: string): V | undefined {
    return this.#entries.get(name);
  }

  set(name: string, value: V): void {
    if (name.length > this.#maxNameChars) return;
    if (this.#entries.size >= this.#maxNames) this.#entries.clear();
    this.#entries.set(name, value);
  }
}
