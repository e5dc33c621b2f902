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
import type { KeyObject } from 'node:crypto';
import { parsePublicKey, signerOf, verifies, type SignedParts } from './signature';

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

export interface VerifierOptions { ttlMs?: number; now?: () => number }

const short = (k: string) => `${k.slice(0, 10)}…`;

export class Verifier {
  private readonly cache = new Map<string, { key: PinnedKey | null; at: number }>();
  private readonly parsed = new Map<string, KeyObject | null>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(readonly mode: IdentityMode, private readonly book: KeyBook, opts: VerifierOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** null: decode it; else why it is refused. */
  async check(m: SignedParts): Promise<string | null> {
    return (await this.checkAll([m]))[0]!;
  }

  /**
   * check() of each message, in order. The signatures verify concurrently (threadpool); the key
   * decisions then run one message at a time in the messages' order, so which key a new host gets
   * pinned by tofu does not depend on which verification finished first.
   */
  async checkAll(ms: readonly SignedParts[]): Promise<(string | null)[]> {
    if (this.mode === 'off') return ms.map(() => null);
    const signed = await Promise.all(ms.map((m) => this.signatureOf(m)));
    const out: (string | null)[] = [];
    for (const s of signed) out.push(typeof s === 'string' ? s : await this.keyDecision(s.host, s.signer));
    return out;
  }

  /** The host and the signer whose signature `m` carries and verifies, else why not. */
  private async signatureOf(m: SignedParts): Promise<{ host: string; signer: string } | string> {
    const host = m.key === null ? '' : m.key.toString();
    if (host === '') return 'no Kafka key: the message names no host to check its signer against';
    const signer = signerOf(m);
    if (signer === null) return `unsigned (AGENT_IDENTITY=${this.mode} accepts only signed messages)`;
    const publicKey = this.keyObject(signer);
    if (publicKey === null) return 'the sig-key header is not an Ed25519 public key';
    // The signature first: a message that does not verify must not get its key pinned.
    if (!(await verifies(m, publicKey))) return `the signature does not verify with the key it names (${short(signer)}): altered or forged`;
    return { host, signer };
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

  private keyObject(text: string): KeyObject | null {
    let k = this.parsed.get(text);
    if (k === undefined) {
      if (this.parsed.size > 100_000) this.parsed.clear();
      this.parsed.set(text, (k = parsePublicKey(text)));
    }
    return k;
  }
}
