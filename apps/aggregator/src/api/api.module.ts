// The query API under /api/v1. PrismaService and CONFIG come from the application (both global).
import { Module } from '@nestjs/common';
import { ApiTokenGuard } from './api-token.guard';
import { ConnectionsService } from './connections.service';
import { FleetController } from './fleet.controller';
import { AgentsService, DeadLettersService, EventsService, GapsService, ProbesService } from './fleet.service';
import { StatsService } from './stats.service';
import { TcpController } from './tcp.controller';
import { TransitionsService } from './transitions.service';

@Module({
  controllers: [TcpController, FleetController],
  providers: [
    ApiTokenGuard, TransitionsService, ConnectionsService, StatsService,
    AgentsService, ProbesService, EventsService, GapsService, DeadLettersService,
  ],
})
export class ApiModule {}
