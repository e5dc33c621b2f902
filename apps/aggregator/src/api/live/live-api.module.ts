// The live API: SSE streams of what the store commits, correct across several aggregators.
import { Module } from '@nestjs/common';
import { ApiTokenGuard } from '../api-token.guard';
import { BatchHorizon } from './batch-horizon';
import { LiveController } from './live.controller';
import { DEFAULT_LIVE_OPTIONS, LIVE_OPTIONS, StreamService } from './stream.service';

@Module({
  controllers: [LiveController],
  providers: [ApiTokenGuard, BatchHorizon, StreamService, { provide: LIVE_OPTIONS, useValue: DEFAULT_LIVE_OPTIONS }],
  exports: [StreamService],
})
export class LiveApiModule {}
