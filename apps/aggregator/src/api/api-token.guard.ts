// Bearer tokens for /api/v1 (ApiV1Controller puts this guard on every API controller; health, metrics and docs
// are other controllers and stay open). No tokens configured: the API is open.
import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { CONFIG } from '../config.module';
import type { AggregatorConfig } from '../config';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

@Injectable()
export class ApiTokenGuard implements CanActivate {
  private readonly tokens: Buffer[];

  constructor(@Inject(CONFIG) config: AggregatorConfig) {
    this.tokens = config.API_TOKENS.map(sha256);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.tokens.length === 0) return true;
    const header = context.switchToHttp().getRequest<{ headers: { authorization?: string } }>().headers.authorization ?? '';
    const given = sha256(/^Bearer +(\S+) *$/i.exec(header)?.[1] ?? '');
    // Digests have equal lengths, as timingSafeEqual needs, and every token is compared, so the
    // time taken says nothing about the token nor about which one matched.
    const matches = this.tokens.filter((token) => timingSafeEqual(token, given)).length;
    if (matches === 0) throw new UnauthorizedException('expected Authorization: Bearer <token>');
    return true;
  }
}
