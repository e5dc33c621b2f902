import fc from 'fast-check';
import { contiguousTo, EMPTY_PROGRESS, observeSeqs, SeqRange, StreamProgress } from './gaps';

describe('observeSeqs', () => {
  it('opens a gap for skipped seqs and closes it when they arrive late', () => {
    const a = observeSeqs(EMPTY_PROGRESS, [1, 2, 5]);
    expect(a.changes.opened).toEqual([{ from: 3, to: 4 }]);
    expect(contiguousTo(a.progress)).toBe(2);

    const b = observeSeqs(a.progress, [4]);
    expect(b.changes.shrunk).toEqual([{ from: { from: 3, to: 4 }, to: { from: 3, to: 3 } }]);

    const c = observeSeqs(b.progress, [3, 6]);
    expect(c.changes.closed).toEqual([{ from: 3, to: 3 }]);
    expect(c.progress).toEqual({ maxSeq: 6, gaps: [] });
  });

  it('splits a gap filled in its middle', () => {
    const a = observeSeqs(EMPTY_PROGRESS, [10]);
    const b = observeSeqs(a.progress, [4, 6]);
    expect(b.changes.shrunk).toEqual([{ from: { from: 1, to: 9 }, to: { from: 1, to: 3 } }]);
    expect(b.changes.split).toEqual([
      { parent: { from: 1, to: 9 }, piece: { from: 5, to: 5 } },
      { parent: { from: 1, to: 9 }, piece: { from: 7, to: 9 } },
    ]);
  });

  it('a stream first seen mid-way reports the seqs before it as a gap', () => {
    expect(observeSeqs(EMPTY_PROGRESS, [3, 4]).changes.opened).toEqual([{ from: 1, to: 2 }]);
  });

  it('whatever the arrival order, the gaps are exactly the seqs never seen', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (seqs, batches) => {
        let progress: StreamProgress = EMPTY_PROGRESS;
        const size = Math.ceil(seqs.length / batches) || 1;
        for (let i = 0; i < seqs.length; i += size) progress = observeSeqs(progress, seqs.slice(i, i + size)).progress;
        const seen = new Set(seqs);
        const missing: number[] = [];
        for (let s = 1; s <= progress.maxSeq; s++) if (!seen.has(s)) missing.push(s);
        const inGaps = progress.gaps.flatMap((g: SeqRange) => Array.from({ length: g.to - g.from + 1 }, (_, k) => g.from + k));
        expect(inGaps).toEqual(missing);
        expect(progress.maxSeq).toBe(seqs.length ? Math.max(...seqs) : 0);
      }),
    );
  });
});
