export * from './route.ts';
export * from './topology.ts';
