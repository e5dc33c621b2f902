// The TCP API: transitions (tcpstates), connection lifetimes (tcplife) and transition counts.
import { Module } from '@nestjs/common';
import { ApiTokenGuard } from './api-token.guard';
import { ConnectionsService } from './connections.service';
import { StatsService } from './stats.service';
import { TcpController } from './tcp.controller';
import { TransitionsService } from './transitions.service';

@Module({
  controllers: [TcpController],
  providers: [ApiTokenGuard, TransitionsService, ConnectionsService, StatsService],
})
export class TcpApiModule {}
