// Agents' keys: read a host's key (read token), enrol or rotate it (admin token). Strict mode
// accepts only keys enrolled here; in tofu mode an enrolment replaces the pinned key (a rotation).
import { BadRequestException, Body, Get, NotFoundException, Param, Put, UseGuards } from '@nestjs/common';
import { ApiBody, ApiForbiddenResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiV1Controller } from '../api/api-controller';
import { AdminTokenGuard } from '../api/api-token.guard';
import { openApi, ZodQuery } from '../api/params';
import { IdentityService } from './identity.service';

const KeyBody = z.strictObject({
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected an Ed25519 public key as `probefleet-agent identity` prints it (43 base64url characters)'),
});
const KeyItem = z.object({ host: z.string(), publicKey: z.string(), source: z.enum(['tofu', 'enrolled']) });
/** Host names as the agent sends them: no control characters, at most the kernel's 64 bytes of a nodename. */
const host = (h: string): string => {
  if (!/^[^\s\x00-\x1f/]{1,64}$/.test(h)) throw new BadRequestException('host: expected a host name (1..64 characters, no spaces or slashes)');
  return h;
};

@ApiV1Controller('identity')
export class IdentityController {
  constructor(private readonly identity: IdentityService) {}

  @Get('agents/:host/key')
  @ApiOperation({ summary: "A host's public key (pinned on first use, or enrolled)" })
  @ApiOkResponse({ schema: openApi(KeyItem) })
  async getKey(@Param('host') h: string) {
    const key = await this.identity.book.get(host(h));
    if (!key) throw new NotFoundException(`host ${h} has no key`);
    return { host: h, ...key };
  }

  @Put('agents/:host/key')
  @UseGuards(AdminTokenGuard)
  @ApiOperation({ summary: "Enrol (or rotate) a host's public key; needs an admin token" })
  @ApiBody({ schema: openApi(KeyBody, 'input') })
  @ApiOkResponse({ schema: openApi(KeyItem.extend({ replaced: z.boolean() })) })
  @ApiForbiddenResponse({ description: 'Not an admin token (API_ADMIN_TOKENS), or none is configured.' })
  async putKey(@Param('host') h: string, @Body(new ZodQuery(KeyBody)) body: z.output<typeof KeyBody>) {
    const result = await this.identity.enrol(host(h), body.publicKey);
    if (!result) throw new BadRequestException('publicKey: not an Ed25519 public key');
    return { host: h, publicKey: body.publicKey, source: 'enrolled', replaced: result.replaced };
  }
}
