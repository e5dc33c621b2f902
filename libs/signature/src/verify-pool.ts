// Ed25519 checks off the consumer's thread: the aggregator's main thread is its ingest bottleneck
// (decode, rows, the pg driver), so a batch's checks run on worker threads while it waits, on the
// cores PostgreSQL and it leave idle. The consumer's thread only hashes (SHA-256 of each message)
// and packs each check into one fixed-size record of a buffer that moves to the worker unshared.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PreparedCheck } from './signature';

// A record: signature (64 bytes), the digest's length (1), the digest (SHA-512 at most: 64), the key (32).
const RECORD = 64 + 1 + 64 + 32;
const workerSource = (sodium: string) => `
const { parentPort } = require('node:worker_threads');
const sodium = require(${JSON.stringify(sodium)});
parentPort.on('message', ({ id, buffer, n }) => {
  const b = Buffer.from(buffer);
  const ok = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * ${RECORD};
    ok[i] = sodium.crypto_sign_verify_detached(b.subarray(o, o + 64), b.subarray(o + 65, o + 65 + b[o + 64]), b.subarray(o + 129, o + ${RECORD})) ? 1 : 0;
  }
  parentPort.postMessage({ id, ok }, [ok.buffer]);
});`;

interface Pending { resolve: (ok: Uint8Array) => void; reject: (err: Error) => void }

export class VerifyPool {
  private readonly workers = new Map<number, { worker: Worker; pending: Map<number, Pending> }>();
  private nextId = 0;

  /** `threads` workers, started on the first check; by default one per core, at most 4. */
  constructor(private readonly threads = Math.min(4, availableParallelism())) {}

  /** Whether each check's signature verifies, in order. */
  async verify(checks: readonly PreparedCheck[]): Promise<boolean[]> {
    if (checks.length === 0) return [];
    const per = Math.ceil(checks.length / this.threads);
    const parts: Promise<Uint8Array>[] = [];
    for (let i = 0, w = 0; i < checks.length; i += per, w++) parts.push(this.run(w, checks.slice(i, i + per)));
    const out: boolean[] = [];
    for (const ok of await Promise.all(parts)) for (const v of ok) out.push(v === 1);
    return out;
  }

  /** Stops the workers (a check in flight fails). */
  async close(): Promise<void> {
    const all = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  private run(index: number, checks: readonly PreparedCheck[]): Promise<Uint8Array> {
    const buffer = new ArrayBuffer(checks.length * RECORD);
    const b = Buffer.from(buffer);
    checks.forEach((c, i) => {
      const o = i * RECORD;
      b.set(c.signature, o);
      b[o + 64] = c.digest.length;
      b.set(c.digest, o + 65);
      b.set(c.publicKey, o + 129);
    });
    const w = this.worker(index);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      w.pending.set(id, { resolve, reject });
      w.worker.postMessage({ id, buffer, n: checks.length }, [buffer]);
    });
  }

  private worker(index: number): { worker: Worker; pending: Map<number, Pending> } {
    const existing = this.workers.get(index);
    if (existing) return existing;
    const worker = new Worker(workerSource(require.resolve('sodium-native')), { eval: true });
    const entry = { worker, pending: new Map<number, Pending>() };
    worker.unref(); // an idle pool does not keep the process alive
    worker.on('message', ({ id, ok }: { id: number; ok: Uint8Array }) => {
      entry.pending.get(id)?.resolve(ok);
      entry.pending.delete(id);
    });
    const fail = (err: Error) => {
      if (this.workers.get(index) === entry) this.workers.delete(index); // the next check starts another
      for (const p of entry.pending.values()) p.reject(err);
      entry.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`signature worker exited (code ${code})`)));
    this.workers.set(index, entry);
    return entry;
  }
}
