// The fleet API: agents, probes, raw events per stream, gaps and dead letters, one service each.
import { Module } from '@nestjs/common';
import { ApiTokenGuard } from '../api-token.guard';
import { AgentsService } from './agents.service';
import { DeadLettersService } from './dead-letters.service';
import { EventsService } from './events.service';
import { FleetController } from './fleet.controller';
import { GapsService } from './gaps.service';
import { ProbesService } from './probes.service';

@Module({
  controllers: [FleetController],
  providers: [ApiTokenGuard, AgentsService, ProbesService, EventsService, GapsService, DeadLettersService],
})
export class FleetApiModule {}
