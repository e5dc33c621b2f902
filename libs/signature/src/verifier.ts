// Which messages the aggregator decodes, by AGENT_IDENTITY:
//   off    - all, signed or not (the signature is not read);
//   tofu   - signed ones whose signer is the host's pinned key; the first valid signer seen for a
//            host is pinned (trust on first use);
//   strict - signed ones whose signer is the host's key enrolled through the API.
// A refused message is dead-lettered (kind bad-signature) with the reason returned here. The host
// is the Kafka key: the signature covers it, and the store refuses events whose host is not the
// key (key-mismatch), so a valid signature binds every event of the message to its signer's host.
// Keys are cached per host for `ttlMs` (a rotation through another aggregator is seen within it,
// or at once when the new key signs: a mismatch re-reads the book before refusing).
import { parsePublicKey, prepareCheck, signerOf, type PreparedCheck, type SignedParts } from './signature';
import { VerifyPool } from './verify-pool';

export type IdentityMode = 'off' | 'tofu' | 'strict';
export const IDENTITY_MODES: readonly IdentityMode[] = ['off', 'tofu', 'strict'];
export const BAD_SIGNATURE = 'bad-signature';

export interface PinnedKey { publicKey: string; source: 'tofu' | 'enrolled' }

/** Where hosts' keys are kept (the aggregator's agent_keys table). */
export interface KeyBook {
  get(host: string): Promise<PinnedKey | null>;
  /** Pins `publicKey` for `host` (source tofu) unless the host has a key; the host's key afterwards. */
  pinFirst(host: string, publicKey: string): Promise<PinnedKey>;
}

export interface VerifierOptions { ttlMs?: number; now?: () => number; pool?: VerifyPool }

const short = (k: string) => `${k.slice(0, 10)}…`;

interface Prepared { host: string; signer: string; check: PreparedCheck; ok: boolean }

export class Verifier {
  private readonly cache = new Map<string, { key: PinnedKey | null; at: number }>();
  private readonly parsed = new Map<string, Buffer | null>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly pool: VerifyPool;

  constructor(readonly mode: IdentityMode, private readonly book: KeyBook, opts: VerifierOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.now = opts.now ?? Date.now;
    this.pool = opts.pool ?? new VerifyPool();
  }

  /** null: decode it; else why it is refused. */
  async check(m: SignedParts): Promise<string | null> {
    return (await this.checkAll([m]))[0]!;
  }

  /**
   * check() of each message. The signatures verify together (VerifyPool); the key decisions then
   * run in the messages' order, so that which key a new host gets pinned by tofu is the first
   * valid signer's.
   */
  async checkAll(ms: readonly SignedParts[]): Promise<(string | null)[]> {
    if (this.mode === 'off') return ms.map(() => null);
    const prepared = ms.map((m) => this.prepare(m));
    const checks = prepared.filter((p): p is Prepared => typeof p !== 'string');
    const verified = await this.pool.verify(checks.map((p) => p.check));
    checks.forEach((p, i) => (p.ok = verified[i]!));
    const out: (string | null)[] = [];
    for (const p of prepared) {
      if (typeof p === 'string') out.push(p);
      // The signature first: a message that does not verify must not get its key pinned.
      else if (!p.ok) out.push(`the signature does not verify with the key it names (${short(p.signer)}): altered or forged`);
      else out.push(await this.keyDecision(p.host, p.signer));
    }
    return out;
  }

  /** The host, the signer and the check of the signature `m` carries, else why it cannot verify. */
  private prepare(m: SignedParts): Prepared | string {
    const host = m.key === null ? '' : m.key.toString();
    if (host === '') return 'no Kafka key: the message names no host to check its signer against';
    const signer = signerOf(m);
    if (signer === null) return `unsigned (AGENT_IDENTITY=${this.mode} accepts only signed messages)`;
    const publicKey = this.publicKey(signer);
    if (publicKey === null) return 'the sig-key header is not an Ed25519 public key';
    const check = prepareCheck(m, publicKey);
    if (check === null) return `the signature is malformed (not 64 bytes of base64): altered or forged`;
    return { host, signer, check, ok: false };
  }

  /** null when `signer` is the key `host` may sign with under the mode, else why not. */
  private async keyDecision(host: string, signer: string): Promise<string | null> {
    let pinned = await this.keyOf(host, false);
    if (pinned?.publicKey !== signer) pinned = await this.keyOf(host, true);
    const usable = pinned !== null && (this.mode === 'tofu' || pinned.source === 'enrolled');
    if (!usable) {
      if (this.mode === 'strict') return `host ${JSON.stringify(host)} has no enrolled key (PUT /api/v1/agents/{host}/key)`;
      pinned = await this.book.pinFirst(host, signer);
      this.cache.set(host, { key: pinned, at: this.now() });
    }
    if (pinned!.publicKey !== signer) return `signed by ${short(signer)}, not by the ${pinned!.source} key of host ${JSON.stringify(host)} (${short(pinned!.publicKey)})`;
    return null;
  }

  /** Stops the pool's workers. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Drops the cached key of `host` (after an enrolment here). */
  forget(host: string): void {
    this.cache.delete(host);
  }

  private async keyOf(host: string, fresh: boolean): Promise<PinnedKey | null> {
    const hit = this.cache.get(host);
    if (!fresh && hit && this.now() - hit.at < this.ttlMs) return hit.key;
    const key = await this.book.get(host);
    this.cache.set(host, { key, at: this.now() });
    return key;
  }

  private publicKey(text: string): Buffer | null {
    let k = this.parsed.get(text);
    if (k === undefined) {
      if (this.parsed.size > 100_000) this.parsed.clear();
      this.parsed.set(text, (k = parsePublicKey(text)));
    }
    return k;
  }
}
