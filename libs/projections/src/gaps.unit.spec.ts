import fc from 'fast-check';
import { contiguousTo, EMPTY_PROGRESS, missingCount, observeSeqs, StreamProgress } from './gaps';

describe('observeSeqs', () => {
  it('opens a gap for skipped seqs, shrinks it, and closes it when they all arrive late', () => {
    const a = observeSeqs(EMPTY_PROGRESS, [1, 2, 5]);
    expect(a.changes.opened).toEqual([{ from: 3, to: 4, remaining: [{ from: 3, to: 4 }] }]);
    expect(contiguousTo(a.progress)).toBe(2);

    const b = observeSeqs(a.progress, [4]);
    expect(b.changes.shrunk).toEqual([{ from: 3, to: 4, remaining: [{ from: 3, to: 3 }] }]);
    expect(contiguousTo(b.progress)).toBe(2);

    const c = observeSeqs(b.progress, [3, 6]);
    expect(c.changes.closed).toEqual([{ from: 3, to: 4, remaining: [] }]);
    expect(c.progress).toEqual({ maxSeq: 6, gaps: [] });
    expect(contiguousTo(c.progress)).toBe(6);
  });

  it('keeps one gap when a late event lands in its middle', () => {
    const a = observeSeqs(EMPTY_PROGRESS, [10]);
    const b = observeSeqs(a.progress, [4, 6]);
    expect(b.changes.shrunk).toEqual([{ from: 1, to: 9, remaining: [{ from: 1, to: 3 }, { from: 5, to: 5 }, { from: 7, to: 9 }] }]);
    expect(missingCount(b.changes.shrunk[0]!)).toBe(7);
  });

  it('a stream first seen mid-way reports the seqs before it as a gap', () => {
    expect(observeSeqs(EMPTY_PROGRESS, [3, 4]).changes.opened).toEqual([{ from: 1, to: 2, remaining: [{ from: 1, to: 2 }] }]);
  });

  it('whatever the arrival order and batching, the missing seqs are exactly those never seen', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (seqs, batches) => {
        let progress: StreamProgress = EMPTY_PROGRESS;
        const size = Math.ceil(seqs.length / batches) || 1;
        for (let i = 0; i < seqs.length; i += size) progress = observeSeqs(progress, seqs.slice(i, i + size)).progress;
        const seen = new Set(seqs);
        const missing: number[] = [];
        for (let s = 1; s <= progress.maxSeq; s++) if (!seen.has(s)) missing.push(s);
        const inGaps = progress.gaps.flatMap((g) => g.remaining).flatMap((r) => Array.from({ length: r.to - r.from + 1 }, (_, k) => r.from + k));
        expect(inGaps).toEqual(missing);
        expect(progress.maxSeq).toBe(seqs.length ? Math.max(...seqs) : 0);
      }),
    );
  });
});
