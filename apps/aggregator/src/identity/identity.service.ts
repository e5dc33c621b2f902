// AGENT_IDENTITY at the consumer's one call site: each message of a batch is checked (signature,
// the host's key) before anything decodes it; a refused one is marked, and the store dead-letters
// it (kind bad-signature) in the batch's transaction, at its offset — so a redelivery stays a
// duplicate of the same dead letter, and a redelivered accepted message a duplicate of its events.
import { Inject, Injectable } from '@nestjs/common';
import { BAD_SIGNATURE, parsePublicKey, Verifier } from '@probefleet/signature';
import { CONFIG } from '../config.module';
import type { AggregatorConfig } from '../config';
import type { KafkaRecord } from '../consumer/kafka-record';
import { PrismaService } from '../store/prisma.service';
import { PgKeyBook } from './key-book';

@Injectable()
export class IdentityService {
  readonly book: PgKeyBook;
  private readonly verifier: Verifier;

  constructor(@Inject(CONFIG) config: AggregatorConfig, db: PrismaService) {
    this.book = new PgKeyBook(db.pool);
    this.verifier = new Verifier(config.AGENT_IDENTITY, this.book);
  }

  /** The records, those whose signature the policy refuses marked `refused` (kind bad-signature). */
  async screen(records: readonly KafkaRecord[]): Promise<readonly KafkaRecord[]> {
    if (this.verifier.mode === 'off') return records;
    const reasons = await this.verifier.checkAll(records);
    return records.map((r, i) => (reasons[i] === null ? r : { ...r, refused: { kind: BAD_SIGNATURE, reason: reasons[i]! } }));
  }

  /** PUT /api/v1/agents/{host}/key: null when `publicKey` is no Ed25519 key text. */
  async enrol(host: string, publicKey: string): Promise<{ replaced: boolean } | null> {
    if (parsePublicKey(publicKey) === null) return null;
    const result = await this.book.enrol(host, publicKey);
    this.verifier.forget(host);
    return result;
  }
}
