export * from './anonymity-metrics.ts';
export * from './cover-metrics.ts';
export * from './directory-metrics.ts';
export * from './gateway-metrics.ts';
export * from './mix-node-metrics.ts';
export * from './registry.ts';
export * from './stage-metrics.ts';
