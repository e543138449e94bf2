export * from './fetch-topology.ts';
export * from './route.ts';
export * from './topology.ts';
export * from './topology-cache.ts';
