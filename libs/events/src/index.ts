export * from './tcp';
export * from './schemas';
export * from './codec';
export * from './hit-scan';
