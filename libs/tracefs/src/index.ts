// The kprobe_events and filter grammars live in libs/policy (pure); re-exported for tracefs' users.
export * from './grammar';
export * from './parser';
export * from './tcp';
export * from './tcp-raw';
export * from './btf';
export * from './discovery';
export * from './instance';
export * from './format';
export * from './raw';
export * from './raw-reader';
export * from './kprobes-list';
