// Query parameters: one strict zod schema per endpoint. The same schema validates the request
// (a bad or unknown parameter is a 400 naming it) and documents the endpoint's OpenAPI parameters.
import { applyDecorators, BadRequestException, type PipeTransform } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiQuery, type SchemaObject } from '@nestjs/swagger';
import { TcpStateSchema } from '@probefleet/events';
import { z } from 'zod';
import { decodeCursor } from './cursor';

export const MAX_LIMIT = 1000;

/** A non-negative integer within bounds; the query string only ever gives text. */
export function intParam(min: number, max: number) {
  const message = `expected an integer ${min}..${max}`;
  return z
    .string()
    .refine((s) => /^\d{1,16}$/.test(s), message)
    .transform(Number)
    .refine((n) => n >= min && n <= max, message)
    .meta({ type: 'integer', minimum: min, maximum: max });
}

/** RFC 3339, kept as text so PostgreSQL parses it to the microsecond (a JS Date stops at the millisecond). */
export const timeParam = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 time like 2026-11-25T10:00:00Z' });
export const stateParam = z.enum(TcpStateSchema.options, { error: 'expected a TCP state name like TCP_ESTABLISHED' });
export const familyParam = z.enum(['AF_INET', 'AF_INET6'], { error: 'expected AF_INET or AF_INET6' });
export const limitParam = intParam(1, MAX_LIMIT).default(100).describe(`Page size (default 100, at most ${MAX_LIMIT}).`);
export const orderParam = z.enum(['asc', 'desc'], { error: 'expected asc or desc' }).default('desc')
  .describe('desc (default): newest first; asc: oldest first.');
export const boolParam = z.enum(['true', 'false'], { error: 'expected true or false' }).transform((v) => v === 'true');
export const uuidParam = z.uuid({ error: 'expected a UUID' });

/** A page position after (time, id): an opaque cursor from a previous page's nextCursor. */
export const timeIdCursor = z.string().transform((s, ctx) => {
  const parts = decodeCursor(s);
  if (parts?.length === 2 && timeParam.safeParse(parts[0]).success && /^\d{1,19}$/.test(parts[1]!)) {
    return { time: parts[0]!, id: BigInt(parts[1]!) };
  }
  ctx.addIssue({ code: 'custom', message: 'expected a nextCursor of a previous page' });
  return z.NEVER;
}).describe('nextCursor of the previous page.');

/** A page position after one id (or seq). */
export const idCursor = z.string().transform((s, ctx) => {
  const parts = decodeCursor(s);
  if (parts?.length === 1 && /^\d{1,19}$/.test(parts[0]!)) return BigInt(parts[0]!);
  ctx.addIssue({ code: 'custom', message: 'expected a nextCursor of a previous page' });
  return z.NEVER;
}).describe('nextCursor of the previous page.');

/** Validates a request's query against an endpoint's schema; every problem named in one 400. */
export class ZodQuery<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {}

  transform(query: unknown): z.output<S> {
    const parsed = this.schema.safeParse(query ?? {});
    if (parsed.success) return parsed.data;
    const given = (query ?? {}) as Record<string, unknown>;
    const problems = parsed.error.issues.flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${k}: unknown parameter`);
      const name = issue.path.join('.') || 'query';
      // `?port=1&port=2` arrives as an array: say so instead of zod's "expected string".
      return [`${name}: ${Array.isArray(given[name]) ? 'expected one value, got several' : issue.message}`];
    });
    throw new BadRequestException(problems.join('; '));
  }
}

type JsonSchema = SchemaObject & { properties?: Record<string, SchemaObject>; required?: string[] };

/** An object schema as OpenAPI 3.0 (what @nestjs/swagger writes), for responses and parameters. */
export function openApi(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io, target: 'openapi-3.0', unrepresentable: 'any' }) as JsonSchema & { $schema?: string };
  return json;
}

/** Every parameter of an endpoint's query schema as an OpenAPI query parameter. */
export function ApiQueryParams(schema: z.ZodObject): MethodDecorator {
  const json = openApi(schema, 'input');
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, { description, ...param }]) =>
      ApiQuery({
        name,
        required: json.required?.includes(name) ?? false,
        ...(description === undefined ? {} : { description }),
        // zod's RFC 3339 regex says nothing `format: date-time` does not.
        schema: param.format === 'date-time' ? { ...param, pattern: undefined } : param,
      }),
    ),
  );
}

export const pageOf = (item: z.ZodType) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.') });

/** An endpoint's OpenAPI description: its query parameters, its 200 body, and its 400. */
export function ApiEndpoint(summary: string, query: z.ZodObject, response: z.ZodType): MethodDecorator {
  return applyDecorators(
    ApiOperation({ summary }),
    ApiQueryParams(query),
    ApiOkResponse({ schema: openApi(response) }),
    ApiBadRequestResponse({ description: 'A bad or unknown parameter; `message` names it and says why.' }),
  );
}
