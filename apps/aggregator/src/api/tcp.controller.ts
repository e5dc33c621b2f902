// TCP transitions, connections and transition counts.
import { Get, Query } from '@nestjs/common';
import { ApiV1Controller } from './api-controller';
import { ConnectionItem, ConnectionsQuery, ConnectionsService } from './connections.service';
import { ApiEndpoint, pageOf, ZodQuery } from './params';
import { StatsParams, StatsQuery, StatsResponse, StatsService } from './stats.service';
import { TransitionItem, TransitionsQuery, TransitionsService } from './transitions.service';

@ApiV1Controller('tcp')
export class TcpController {
  constructor(
    private readonly transitions: TransitionsService,
    private readonly connections: ConnectionsService,
    private readonly stats: StatsService,
  ) {}

  @Get('transitions')
  @ApiEndpoint('TCP state transitions (tcpstates), filtered, in keyset pages', TransitionsQuery, pageOf(TransitionItem))
  listTransitions(@Query(new ZodQuery(TransitionsQuery)) q: TransitionsQuery) {
    return this.transitions.page(q);
  }

  @Get('connections')
  @ApiEndpoint('Socket lifetimes (tcplife) with the time spent in each state, in keyset pages', ConnectionsQuery, pageOf(ConnectionItem))
  listConnections(@Query(new ZodQuery(ConnectionsQuery)) q: ConnectionsQuery) {
    return this.connections.page(q);
  }

  @Get('stats/transitions')
  @ApiEndpoint('Transition counts per (oldState, newState) per time bucket', StatsParams, StatsResponse)
  transitionStats(@Query(new ZodQuery(StatsQuery)) q: StatsQuery) {
    return this.stats.transitions(q);
  }
}
