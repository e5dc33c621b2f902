// Gap tracking of one stream (host, agent instance): seq starts at 1 and has no holes, so any hole
// is a range of events the aggregator has not seen (yet). Late events shrink or split a gap;
// a gap that is filled entirely is closed. Pure: the store turns `GapChanges` into row updates.

export interface SeqRange { from: number; to: number }

export interface StreamProgress {
  /** Highest seq seen. */
  maxSeq: number;
  /** Open gaps, sorted, disjoint, all below maxSeq. */
  gaps: SeqRange[];
}

export interface GapChanges {
  /** New gaps: seqs skipped past maxSeq. */
  opened: SeqRange[];
  /** Gaps that late events reduced: `from` is the gap as it was, `to` what remains (first piece). */
  shrunk: { from: SeqRange; to: SeqRange }[];
  /** Further pieces of gaps split by a late event in their middle. */
  split: { parent: SeqRange; piece: SeqRange }[];
  /** Gaps filled entirely. */
  closed: SeqRange[];
}

export const EMPTY_PROGRESS: StreamProgress = { maxSeq: 0, gaps: [] };

/** The seqs up to which everything has arrived. */
export function contiguousTo(p: StreamProgress): number {
  return p.gaps.length > 0 ? p.gaps[0]!.from - 1 : p.maxSeq;
}

/**
 * Folds newly stored seqs (each stored once: the event store drops duplicates before this) into
 * the stream's progress and says which gap rows change.
 */
export function observeSeqs(progress: StreamProgress, seqs: readonly number[]): { progress: StreamProgress; changes: GapChanges } {
  // Ascending, so once a seq passes maxSeq every later one does too: the late seqs (at or below
  // the old maxSeq) can only fall into the old gaps, never into the ones opened here.
  const sorted = [...seqs].sort((a, b) => a - b);
  let maxSeq = progress.maxSeq;
  const opened: SeqRange[] = [];
  const late: number[] = [];
  for (const seq of sorted) {
    if (seq <= maxSeq) late.push(seq);
    else {
      if (seq > maxSeq + 1) opened.push({ from: maxSeq + 1, to: seq - 1 });
      maxSeq = seq;
    }
  }
  const changes: GapChanges = { opened, shrunk: [], split: [], closed: [] };
  const gaps: SeqRange[] = [];
  for (const gap of progress.gaps) {
    const pieces = removeSeqs(gap, late);
    gaps.push(...pieces);
    const [first, ...rest] = pieces;
    if (!first) changes.closed.push(gap);
    else if (first.from !== gap.from || first.to !== gap.to) changes.shrunk.push({ from: gap, to: first });
    for (const piece of rest) changes.split.push({ parent: gap, piece });
  }
  gaps.push(...opened);
  return { progress: { maxSeq, gaps }, changes };
}

/** What is left of `gap` once the given seqs (sorted) arrived: zero, one or several ranges. */
function removeSeqs(gap: SeqRange, sortedSeqs: readonly number[]): SeqRange[] {
  const pieces: SeqRange[] = [];
  let from = gap.from;
  for (const seq of sortedSeqs) {
    if (seq < from || seq > gap.to) continue;
    if (seq > from) pieces.push({ from, to: seq - 1 });
    from = seq + 1;
  }
  if (from <= gap.to) pieces.push({ from, to: gap.to });
  return pieces;
}
