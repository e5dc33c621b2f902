export * from './tcp';
export * from './limits';
export * from './schemas';
export * from './codec';
export * from './hit-scan';
export * from './inet';
export * from './tcp-hit';
