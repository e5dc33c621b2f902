// The envelope's time codec is @probefleet/events' (one codec for agent, simulator, projections).
export { parseInstant, rfc3339Nanos } from '@probefleet/events';
