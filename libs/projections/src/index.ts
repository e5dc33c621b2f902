export * from './time';
export * from './gaps';
export * from './tcp-lifecycle';
