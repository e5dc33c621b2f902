export * from './tracker';
export * from './cgroup';
export * from './pods';
export * from './process';
export * from './scan';
export * from './owners';
