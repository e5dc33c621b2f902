export * from './kprobe-grammar';
export * from './filter-grammar';
export * from './tcp-probe';
export * from './filter-config';
export * from './probe-config';
export * from './probe-set';
export * from './selector';
export * from './policy';
