export * from './grammar';
export * from './parser';
export * from './tcp';
export * from './btf';
export * from './discovery';
export * from './instance';
export * from './format';
export * from './raw';
