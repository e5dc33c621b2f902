import { EventEmitter } from 'node:events';
import { BatchQueue, type StreamMessage } from './batch-queue';
import type { Batch } from './types';

class FakeStream extends EventEmitter {
  paused = false;
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
}

const committed: string[] = [];
const msg = (partition: number, offset: number): StreamMessage => ({
  partition,
  offset: BigInt(offset),
  key: Buffer.from(`k${partition}`),
  value: Buffer.from(`v${offset}`),
  headers: new Map([[Buffer.from('host'), Buffer.from(`h${partition}`)]]),
  commit: () => void committed.push(`${partition}:${offset + 1}`),
});

/** A store whose batches finish only when the test says so. */
function store() {
  const batches: { batch: Batch; done: () => void }[] = [];
  const each = (batch: Batch) => new Promise<void>((done) => batches.push({ batch, done }));
  return { batches, each };
}
const settle = () => new Promise((r) => setImmediate(r));

describe('BatchQueue', () => {
  beforeEach(() => committed.splice(0));

  it('hands one partition its messages in order, one batch at a time, and other partitions at once up to the limit', async () => {
    const s = store();
    const q = new BatchQueue('t', 2, s.each, () => true, (e) => { throw e; });
    const stream = new FakeStream();
    q.attach(stream);
    stream.emit('data', msg(0, 0));
    await settle();
    stream.emit('data', msg(0, 1)); // waits: partition 0 is busy
    stream.emit('data', msg(1, 5));
    stream.emit('data', msg(2, 9)); // waits: two batches run
    await settle();
    expect(s.batches.map((b) => [b.batch.partition, b.batch.messages.map((m) => m.offset)])).toEqual([[0, ['0']], [1, ['5']]]);
    expect(s.batches[0]!.batch.messages[0]).toEqual({ offset: '0', key: Buffer.from('k0'), value: Buffer.from('v0'), headers: { host: Buffer.from('h0') } });
    s.batches[0]!.done();
    await settle();
    // Round robin: partition 2 has waited, so it goes before partition 0's second batch.
    expect(s.batches.slice(2).map((b) => b.batch.partition)).toEqual([2]);
    s.batches[1]!.done();
    await settle();
    expect(s.batches.slice(3).map((b) => [b.batch.partition, b.batch.messages.map((m) => m.offset)])).toEqual([[0, ['1']]]);
  });

  it('commits past the offset it is given, only one of the batch', async () => {
    const q = new BatchQueue('t', 1, async (b, c) => c.commit(b.messages[1]!.offset), () => true, () => undefined);
    const stream = new FakeStream();
    q.attach(stream);
    stream.emit('data', msg(3, 7));
    stream.emit('data', msg(3, 8));
    await settle();
    expect(committed).toEqual(['3:9']);
    const failures: unknown[] = [];
    const q2 = new BatchQueue('t', 1, async (_b, c) => c.commit('99'), () => true, (e) => failures.push(e));
    q2.attach(stream);
    stream.emit('data', msg(4, 1));
    await settle();
    expect(String(failures[0])).toContain('offset 99 is not in this batch of t[4]');
  });

  it('skips a re-read of what it holds, drops what waits for a partition it lost, and says a lost partition is not owned', async () => {
    const s = store();
    const owned = new Set([0, 1]);
    const q = new BatchQueue('t', 1, s.each, (p) => owned.has(p), () => undefined);
    const stream = new FakeStream();
    q.attach(stream);
    stream.emit('data', msg(0, 0));
    stream.emit('data', msg(1, 0)); // waits
    await settle();
    stream.emit('data', msg(0, 0)); // re-read from the commit after a rebalance: held already
    stream.emit('data', msg(0, 1));
    owned.delete(1);
    q.reassigned();
    s.batches[0]!.done();
    await settle();
    expect(s.batches.map((b) => [b.batch.partition, b.batch.messages.map((m) => m.offset)])).toEqual([[0, ['0']], [0, ['1']]]);
    // Partition 1 back: read again from its commit, not skipped.
    owned.add(1);
    stream.emit('data', msg(1, 0));
    s.batches[1]!.done();
    await settle();
    expect(s.batches.slice(2).map((b) => [b.batch.partition, b.batch.messages.map((m) => m.offset)])).toEqual([[1, ['0']]]);
  });

  it('pauses the stream while too much waits, and lets the batches in hand finish before it is drained', async () => {
    const s = store();
    const q = new BatchQueue('t', 1, s.each, () => true, () => undefined, 3);
    const stream = new FakeStream();
    q.attach(stream);
    stream.emit('data', msg(0, 0));
    await settle();
    for (let i = 1; i < 4; i++) stream.emit('data', msg(0, i));
    expect(stream.paused).toBe(true);
    s.batches[0]!.done();
    await settle();
    expect(stream.paused).toBe(false);
    expect(s.batches[1]!.batch.messages.map((m) => m.offset)).toEqual(['1', '2', '3']);
    let drained = false;
    const d = q.drained().then(() => (drained = true));
    stream.emit('data', msg(0, 4));
    await settle();
    expect(drained).toBe(false);
    s.batches[1]!.done();
    await d;
    expect(s.batches).toHaveLength(2); // nothing handed out once draining
  });
});
