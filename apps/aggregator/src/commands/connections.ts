// `probefleet connections [filters]`: connections from the query API (see listing.ts).
import { resources } from '@probefleet/api-client';
import { listingCommand } from './listing';

export const connectionsCommand = () => listingCommand(resources['connections']!);
