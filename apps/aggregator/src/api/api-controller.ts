// What every /api/v1 controller shares: the prefix, the token guard, and its OpenAPI description.
import { applyDecorators, Controller, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ApiTokenGuard } from './api-token.guard';

export function ApiV1Controller(tag: string): ClassDecorator {
  return applyDecorators(
    Controller('api/v1'),
    UseGuards(ApiTokenGuard),
    ApiTags(tag),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Tokens are configured (API_TOKENS, API_ADMIN_TOKENS) and the request has none of them as its bearer token.' }),
  );
}
