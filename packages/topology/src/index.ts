export * from './descriptor-signing.ts';
export * from './epoch.ts';
export * from './fetch-topology.ts';
export * from './route.ts';
export * from './topology.ts';
export * from './topology-cache.ts';
export * from './topology-signing.ts';
export * from './verdict.ts';
