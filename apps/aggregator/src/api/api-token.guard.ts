// Bearer tokens for /api/v1 (ApiV1Controller puts ApiTokenGuard on every API controller; health,
// metrics and docs are other controllers and stay open). Two sets: read tokens, and admin tokens
// that read too and alone may change things (AdminTokenGuard, on the routes that write). No token
// at all configured: reads are open (config.ts refuses that off loopback unless API_OPEN=true);
// admin routes are never open.
import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { CONFIG } from '../config.module';
import type { AggregatorConfig } from '../config';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

function bearer(context: ExecutionContext): Buffer {
  const header = context.switchToHttp().getRequest<{ headers: { authorization?: string } }>().headers.authorization ?? '';
  return sha256(/^Bearer +(\S+) *$/i.exec(header)?.[1] ?? '');
}

// Digests have equal lengths, as timingSafeEqual needs, and every token is compared, so the time
// taken says nothing about the token nor about which one matched.
const matches = (tokens: readonly Buffer[], given: Buffer): boolean => tokens.filter((t) => timingSafeEqual(t, given)).length > 0;

@Injectable()
export class ApiTokenGuard implements CanActivate {
  private readonly tokens: Buffer[];

  constructor(@Inject(CONFIG) config: AggregatorConfig) {
    this.tokens = [...config.API_TOKENS, ...config.API_ADMIN_TOKENS].map(sha256);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.tokens.length === 0) return true;
    if (!matches(this.tokens, bearer(context))) throw new UnauthorizedException('expected Authorization: Bearer <token>');
    return true;
  }
}

@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly tokens: Buffer[];

  constructor(@Inject(CONFIG) config: AggregatorConfig) {
    this.tokens = config.API_ADMIN_TOKENS.map(sha256);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.tokens.length === 0) throw new ForbiddenException('no admin token is configured (API_ADMIN_TOKENS, API_ADMIN_TOKENS_FILE): this route is closed');
    if (!matches(this.tokens, bearer(context))) throw new ForbiddenException('this route needs an admin token (API_ADMIN_TOKENS) as the bearer token');
    return true;
  }
}
