// `probefleet transitions [filters]`: transitions from the query API (see listing.ts).
import { resources } from '@probefleet/api-client';
import { listingCommand } from './listing';

export const transitionsCommand = () => listingCommand(resources['transitions']!);
