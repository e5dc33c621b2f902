// Agents' identities (global): the signature check the consumer calls, and the key API.
import { Global, Module } from '@nestjs/common';
import { AdminTokenGuard, ApiTokenGuard } from '../api/api-token.guard';
import { IdentityController } from './identity.controller';
import { IdentityService } from './identity.service';

@Global()
@Module({
  controllers: [IdentityController],
  providers: [IdentityService, ApiTokenGuard, AdminTokenGuard],
  exports: [IdentityService],
})
export class IdentityModule {}
