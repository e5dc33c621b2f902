// `probefleet gaps [filters]`: gaps from the query API (see listing.ts).
import { resources } from '@probefleet/api-client';
import { listingCommand } from './listing';

export const gapsCommand = () => listingCommand(resources['gaps']!);
