export * from './drop-cover.ts';
export * from './load-format.ts';
export * from './load-generator.ts';
