/** What the pool remembers about one slot (one context sequence) of a loaded model. */
export interface SlotState {
  readonly index: number;
  busy: boolean;
  /** The prefix of the last request that ran here; the backend keeps it evaluated in the sequence. */
  lastPrefix: string | undefined;
  /** Clock value of the last dispatch to this slot; 0 when never used. */
  lastUsedAt: number;
}

export function commonPrefixLength(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a.charCodeAt(index) === b.charCodeAt(index)) index++;
  return index;
}

/**
 * Picks a free slot for a request with this prefix, or undefined when every slot is busy.
 *
 * Preference: the slot whose kept prefix shares the most characters with the request's prefix (the
 * backend then evaluates only the difference), counting only a share of more than half the shorter
 * of the two prefixes (a common header such as "You are " is not worth evicting another agent's
 * prelude); failing such a match, a slot never used; failing that, the least recently used slot.
 */
export function chooseSlot(slots: readonly SlotState[], prefix: string | undefined): SlotState | undefined {
  let best: SlotState | undefined;
  let bestShared = -1;
  for (const slot of slots) {
    if (slot.busy) continue;
    const shared = warmSharedLength(prefix, slot.lastPrefix);
    if (best === undefined || shared > bestShared || (shared === bestShared && isColder(slot, best))) {
      best = slot;
      bestShared = shared;
    }
  }
  return best;
}

/** Never-used slots first, then the least recently used. */
function isColder(candidate: SlotState, current: SlotState): boolean {
  const candidateEmpty = candidate.lastPrefix === undefined;
  const currentEmpty = current.lastPrefix === undefined;
  if (candidateEmpty !== currentEmpty) return candidateEmpty;
  return candidate.lastUsedAt < current.lastUsedAt;
}

/** Characters shared with the slot's kept prefix, or 0 when that is not more than half the shorter prefix. */
function warmSharedLength(prefix: string | undefined, kept: string | undefined): number {
  if (prefix === undefined || kept === undefined || prefix.length === 0 || kept.length === 0) return 0;
  const shared = commonPrefixLength(prefix, kept);
  return shared * 2 > Math.min(prefix.length, kept.length) ? shared : 0;
}
