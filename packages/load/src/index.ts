export * from './load-format.ts';
export * from './load-generator.ts';
