export * from './client';
export * from './sse';
export * from './output';
export * from './resources';
