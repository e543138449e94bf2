export * from './clock.ts';
export * from './mix-strategy.ts';
export * from './rng.ts';
export * from './threshold.ts';
