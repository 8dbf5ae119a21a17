/** Client-sent text (a header, a path) bounded for error messages and logs. */
export function clientText(value: string, maxChars = 64): string {
  return value.length > maxChars ? `${value.slice(0, maxChars)}…` : value;
}
