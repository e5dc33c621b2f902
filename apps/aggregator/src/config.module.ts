// The validated configuration as a Nest provider (token CONFIG), loaded once at start-up.
import { DynamicModule, Global, Module } from '@nestjs/common';
import type { AggregatorConfig } from './config';

export const CONFIG = Symbol('probefleet.config');

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AggregatorConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: CONFIG, useValue: config }], exports: [CONFIG] };
  }
}
