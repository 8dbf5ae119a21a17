/**
 * Which tokens get the free push slots: round-robin from just after the last token served, over
 * the tokens that have data, are not already pushing (one push per token keeps its order) and
 * are not waiting out a backoff. A token with a huge backlog gets one slot per turn like any
 * other, so it cannot starve the rest; a throttled token sits out its backoff while others flow.
 */

export interface LaneView {
  readonly ready: boolean;
  readonly inFlight: boolean;
  readonly notBeforeMs: number;
}

export interface Pick {
  /** Indexes of the lanes to start, in turn order. */
  readonly chosen: number[];
  /** Where the next turn starts. */
  readonly nextStart: number;
}

export function pickLanes(lanes: readonly LaneView[], start: number, freeSlots: number, nowMs: number): Pick {
  const chosen: number[] = [];
  let nextStart = start;
  for (let step = 0; step < lanes.length && chosen.length < freeSlots; step++) {
    const i = (start + step) % lanes.length;
    const lane = lanes[i]!;
    if (lane.ready && !lane.inFlight && lane.notBeforeMs <= nowMs) {
      chosen.push(i);
      nextStart = (i + 1) % lanes.length;
    }
  }
  return { chosen, nextStart };
}

/** When the loop must look again even if nothing wakes it: the earliest end of a backoff. */
export function nextDueMs(lanes: readonly LaneView[], nowMs: number): number | null {
  let due: number | null = null;
  for (const lane of lanes) {
    if (lane.ready && !lane.inFlight && lane.notBeforeMs > nowMs) due = due === null ? lane.notBeforeMs : Math.min(due, lane.notBeforeMs);
  }
  return due;
}
