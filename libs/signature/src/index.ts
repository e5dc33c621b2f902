export * from './signature';
export * from './key-file';
export * from './verifier';
export * from './verify-pool';
export * from './policy-signature';
export * from './policy-key-file';
