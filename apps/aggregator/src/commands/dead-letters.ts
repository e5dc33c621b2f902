// `probefleet dead-letters [filters]`: dead-letters from the query API (see listing.ts).
import { resources } from '@probefleet/api-client';
import { listingCommand } from './listing';

export const deadLettersCommand = () => listingCommand(resources['dead-letters']!);
