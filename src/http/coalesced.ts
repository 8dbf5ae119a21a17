/**
 * A costly asynchronous answer computed at most once at a time: callers that ask while it is
 * being computed share that computation's result instead of starting their own. A flood of
 * requests for it then costs one computation after another, never hundreds side by side.
 */
export function coalesced<T>(compute: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => {
    running ??= compute().finally(() => {
      running = null;
    });
    return running;
  };
}
