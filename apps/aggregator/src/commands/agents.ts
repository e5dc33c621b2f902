// `probefleet agents [filters]`: agents from the query API (see listing.ts).
import { resources } from '@probefleet/api-client';
import { listingCommand } from './listing';

export const agentsCommand = () => listingCommand(resources['agents']!);
