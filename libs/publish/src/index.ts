export * from './frame';
export * from './spool';
export * from './publisher';
export * from './connection';
