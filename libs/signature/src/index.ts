export * from './signature';
export * from './key-file';
export * from './verifier';
export * from './verify-pool';
