// The query API under /api/v1. PrismaService and CONFIG come from the application (both global).
import { Module } from '@nestjs/common';
import { ApiTokenGuard } from './api-token.guard';
import { ConnectionsService } from './connections.service';
import { TcpController } from './tcp.controller';
import { TransitionsService } from './transitions.service';

@Module({
  controllers: [TcpController],
  providers: [ApiTokenGuard, TransitionsService, ConnectionsService],
})
export class ApiModule {}
