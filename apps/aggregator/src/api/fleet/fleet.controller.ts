// The fleet (agents, probes) and the store's records (raw events, gaps, dead letters).
import { Get, Query } from '@nestjs/common';
import { z } from 'zod';
import { ApiV1Controller } from '../api-controller';
import { ApiEndpoint, pageOf, ZodQuery } from '../params';
import { AgentsQuery, AgentsResponse, AgentsService } from './agents.service';
import { DeadLetterItem, DeadLettersQuery, DeadLettersService } from './dead-letters.service';
import { EventsQuery, EventsResponse, EventsService } from './events.service';
import { GapItem, GapsQuery, GapsService } from './gaps.service';
import { ProbesQuery, ProbesResponse, ProbesService } from './probes.service';

@ApiV1Controller('fleet')
export class FleetController {
  constructor(
    private readonly agents: AgentsService,
    private readonly probes: ProbesService,
    private readonly events: EventsService,
    private readonly gaps: GapsService,
    private readonly deadLetters: DeadLettersService,
  ) {}

  @Get('agents')
  @ApiEndpoint('The fleet: one row per host, from its latest agent', AgentsQuery, AgentsResponse)
  listAgents(@Query(new ZodQuery(AgentsQuery)) q: z.output<typeof AgentsQuery>) {
    return this.agents.list(q);
  }

  @Get('probes')
  @ApiEndpoint('Probes per host, as the kprobe model folds their lifecycle', ProbesQuery, ProbesResponse)
  listProbes(@Query(new ZodQuery(ProbesQuery)) q: z.output<typeof ProbesQuery>) {
    return this.probes.list(q);
  }

  @Get('events')
  @ApiEndpoint('Raw events of one stream in seq order', EventsQuery, EventsResponse)
  listEvents(@Query(new ZodQuery(EventsQuery)) q: EventsQuery) {
    return this.events.page(q);
  }

  @Get('gaps')
  @ApiEndpoint('Missing seq ranges of streams, newest first', GapsQuery, pageOf(GapItem))
  listGaps(@Query(new ZodQuery(GapsQuery)) q: z.output<typeof GapsQuery>) {
    return this.gaps.page(q);
  }

  @Get('dead-letters')
  @ApiEndpoint('Messages that could not be stored as events, newest first', DeadLettersQuery, pageOf(DeadLetterItem))
  listDeadLetters(@Query(new ZodQuery(DeadLettersQuery)) q: z.output<typeof DeadLettersQuery>) {
    return this.deadLetters.page(q);
  }
}
