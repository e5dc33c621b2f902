// /api/v1/policies: fleet policies. Reads need a read token (ApiV1Controller), writes an admin token.
// A body is JSON or YAML (application/yaml, text/yaml); it is validated by libs/policy, and a bad one
// is a 400 naming its field, before anything is stored or published.
import { BadRequestException, Body, Delete, Get, HttpCode, NotFoundException, Param, Put, Req, UseGuards } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import { checkPolicyName, formatIssues, parsePolicyText, splitName, type Checked, type PolicySpec } from '@probefleet/policy';
import { z } from 'zod';
import { ApiV1Controller } from '../api/api-controller';
import { AdminTokenGuard } from '../api/api-token.guard';
import { openApi } from '../api/params';
import { PoliciesService, PolicyDetail, PolicyItem, PolicyWrite } from './policies.service';

const MAX_BODY_BYTES = 64 * 1024;
/** What is read of the request (Express's, the body stream unread unless JSON). */
type Request = AsyncIterable<Buffer> & { headers: Record<string, string | string[] | undefined> };
const YAML_TYPES = /^(?:application|text)\/(?:x-)?yaml\b/i;

function policyName(name: string): string {
  const n = checkPolicyName(name);
  if (!n.ok) throw new BadRequestException(formatIssues(n.issues));
  return n.value;
}

/** The YAML text of a request Express left unread (it parses JSON only). */
async function readText(req: Request): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequestException(`body: over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

@ApiV1Controller('policies')
export class PoliciesController {
  constructor(private readonly policies: PoliciesService) {}

  @Get('policies')
  @ApiOperation({ summary: 'The fleet policies in force' })
  @ApiOkResponse({ schema: openApi(z.object({ items: z.array(PolicyItem) })) })
  list() {
    return this.policies.list();
  }

  @Get('policies/:name')
  @ApiOperation({ summary: 'One policy, with per host: applied, rejected (and why), removed or pending; a deleted one too, until its hosts have removed it' })
  @ApiOkResponse({ schema: openApi(PolicyDetail) })
  async get(@Param('name') name: string) {
    const p = await this.policies.get(policyName(name));
    if (!p) throw new NotFoundException(`no policy ${name}`);
    return p;
  }

  @Put('policies/:name')
  @UseGuards(AdminTokenGuard)
  @ApiOperation({ summary: 'Create or change a policy (its next version); needs an admin token' })
  @ApiConsumes('application/json', 'application/yaml')
  @ApiBody({ schema: { type: 'object', description: 'selector, probes, tracepoints, filter (the agent config grammar); `name`, when given, must be the path\'s.' } })
  @ApiOkResponse({ schema: openApi(PolicyWrite) })
  @ApiForbiddenResponse({ description: 'Not an admin token (API_ADMIN_TOKENS), or none is configured.' })
  @ApiServiceUnavailableResponse({ description: 'No POLICY_SIGNING_KEY_FILE: policy records cannot be signed.' })
  async put(@Param('name') name: string, @Req() req: Request, @Body() body: unknown) {
    this.policies.assertWritable();
    const n = policyName(name);
    const type = String(req.headers['content-type'] ?? '');
    const checked: Checked<{ name?: string; spec: PolicySpec }> = YAML_TYPES.test(type) ? parsePolicyText(await readText(req)) : splitName(body);
    if (!checked.ok) throw new BadRequestException(formatIssues(checked.issues));
    if (checked.value.name !== undefined && checked.value.name !== n) throw new BadRequestException(`name: ${checked.value.name} is not the path's ${n}`);
    return this.policies.change(n, { put: checked.value.spec });
  }

  @Delete('policies/:name')
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiOperation({ summary: 'Delete a policy (agents remove it); needs an admin token' })
  @ApiOkResponse({ schema: openApi(PolicyWrite) })
  @ApiForbiddenResponse({ description: 'Not an admin token (API_ADMIN_TOKENS), or none is configured.' })
  @ApiServiceUnavailableResponse({ description: 'No POLICY_SIGNING_KEY_FILE: policy records cannot be signed.' })
  async remove(@Param('name') name: string) {
    this.policies.assertWritable();
    const r = await this.policies.change(policyName(name), { delete: true });
    if (!r) throw new NotFoundException(`no policy ${name}`);
    return r;
  }
}
