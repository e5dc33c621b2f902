// GET /api/v1/transitions/stream and /api/v1/connections/stream: Server-Sent Events, behind the
// same bearer token as the list endpoints.
import { Get, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import type { IncomingMessage as Request, ServerResponse as Response } from 'node:http';
import { PrismaService } from '../../store/prisma.service';
import { ApiV1Controller } from '../api-controller';
import { ApiQueryParams, ZodQuery } from '../params';
import {
  connectionItem, ConnectionStreamQuery, connectionStreamSql, transitionItem, TransitionStreamQuery, transitionStreamSql,
} from './stream-queries';
import { StreamService } from './stream.service';
// Owners are resolved for every page: a stream outlives the processes it started with.
import { resolveOwners } from '../owner-fields';

const LAST_EVENT_ID = ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event: nothing missed, nothing repeated.' });
const SSE = ApiOkResponse({ description: 'text/event-stream: one event per row (id = its stream key), `: heartbeat` comments every 15 s, a final `cutoff` event for a client too slow to keep up.' });

@ApiV1Controller('live')
export class LiveController {
  constructor(private readonly streams: StreamService, private readonly db: PrismaService) {}

  @Get('transitions/stream')
  @ApiOperation({ summary: 'TCP state transitions as they are stored, fleet-wide (Server-Sent Events, event `transition`)' })
  @ApiQueryParams(TransitionStreamQuery)
  @LAST_EVENT_ID
  @SSE
  async transitions(@Query(new ZodQuery(TransitionStreamQuery)) q: TransitionStreamQuery, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.streams.serve(req, res, 'transition', async (after, before, limit) =>
      (await this.db.$queryRaw<Parameters<typeof transitionItem>[0][]>(transitionStreamSql(await resolveOwners(this.db, q), after, before, limit))).map(transitionItem));
  }

  @Get('connections/stream')
  @ApiOperation({ summary: 'Socket lifetimes as they close, fleet-wide (Server-Sent Events, event `connection`); the event id is the closing transition\'s' })
  @ApiQueryParams(ConnectionStreamQuery)
  @LAST_EVENT_ID
  @SSE
  async connections(@Query(new ZodQuery(ConnectionStreamQuery)) q: ConnectionStreamQuery, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.streams.serve(req, res, 'connection', async (after, before, limit) =>
      (await this.db.$queryRaw<Parameters<typeof connectionItem>[0][]>(connectionStreamSql(await resolveOwners(this.db, q), after, before, limit))).map(connectionItem));
  }
}
