// Gap tracking of one stream (host, agent instance): seq starts at 1 and has no holes, so a hole is
// a range of events the aggregator has not seen (yet). A gap keeps the range it was detected with;
// late events shrink what remains of it, and it closes when nothing remains.
// Pure: the store keeps one row per gap and turns `GapChanges` into row writes.

export interface SeqRange { from: number; to: number }

export interface Gap extends SeqRange {
  /** The seqs of the gap still missing: sorted, disjoint, never empty while the gap is open. */
  remaining: SeqRange[];
}

export interface StreamProgress {
  /** Highest seq seen. */
  maxSeq: number;
  /** Open gaps, sorted, all below maxSeq. */
  gaps: Gap[];
}

export interface GapChanges {
  /** Gaps detected now: seqs skipped past maxSeq. */
  opened: Gap[];
  /** Open gaps some of whose seqs arrived. */
  shrunk: Gap[];
  /** Gaps whose every seq has now arrived. */
  closed: Gap[];
}

export const EMPTY_PROGRESS: StreamProgress = { maxSeq: 0, gaps: [] };

/** Every seq up to this one has arrived. */
export function contiguousTo(p: StreamProgress): number {
  const first = p.gaps[0]?.remaining[0];
  return first ? first.from - 1 : p.maxSeq;
}

/** Seqs still missing below maxSeq. */
export function missingCount(gap: Gap): number {
  return gap.remaining.reduce((n, r) => n + r.to - r.from + 1, 0);
}

/**
 * Folds newly stored seqs (each stored once: the event store drops duplicates before this) into
 * the stream's progress and says which gaps changed.
 */
export function observeSeqs(progress: StreamProgress, seqs: readonly number[]): { progress: StreamProgress; changes: GapChanges } {
  // Ascending, so once a seq passes maxSeq every later one does too: the late seqs (at or below
  // the old maxSeq) can only fall into the old gaps, never into the ones opened here.
  const sorted = [...seqs].sort((a, b) => a - b);
  let maxSeq = progress.maxSeq;
  const opened: Gap[] = [];
  const late: number[] = [];
  for (const seq of sorted) {
    if (seq <= maxSeq) late.push(seq);
    else {
      if (seq > maxSeq + 1) opened.push({ from: maxSeq + 1, to: seq - 1, remaining: [{ from: maxSeq + 1, to: seq - 1 }] });
      maxSeq = seq;
    }
  }
  const changes: GapChanges = { opened, shrunk: [], closed: [] };
  const gaps: Gap[] = [];
  for (const gap of progress.gaps) {
    const remaining = gap.remaining.flatMap((r) => removeSeqs(r, late));
    if (remaining.length === gap.remaining.length && remaining.every((r, i) => r.from === gap.remaining[i]!.from && r.to === gap.remaining[i]!.to)) {
      gaps.push(gap);
      continue;
    }
    const next = { ...gap, remaining };
    if (remaining.length === 0) changes.closed.push(next);
    else {
      changes.shrunk.push(next);
      gaps.push(next);
    }
  }
  gaps.push(...opened);
  return { progress: { maxSeq, gaps }, changes };
}

/** What is left of `range` once the given seqs (sorted) arrived: zero, one or several ranges. */
function removeSeqs(range: SeqRange, sortedSeqs: readonly number[]): SeqRange[] {
  const pieces: SeqRange[] = [];
  let from = range.from;
  for (const seq of sortedSeqs) {
    if (seq < from || seq > range.to) continue;
    if (seq > from) pieces.push({ from, to: seq - 1 });
    from = seq + 1;
  }
  if (from <= range.to) pieces.push({ from, to: range.to });
  return pieces;
}

/** Whether `seq` of the stream is stored already: at or below maxSeq and in no open gap. */
export function isSeen(p: StreamProgress, seq: number): boolean {
  if (seq > p.maxSeq) return false;
  for (const gap of p.gaps) for (const r of gap.remaining) if (seq >= r.from && seq <= r.to) return false;
  return true;
}
