// Time, randomness, key files and service databases: what every other package takes from the machine, in one place.
export * from './clock.ts';
export * from './database.ts';
export * from './draws.ts';
export * from './duration.ts';
export * from './key-file.ts';
export * from './manual-clock.ts';
export * from './random.ts';
export * from './scripted-random.ts';
export * from './shuffle.ts';
export * from './wal-sync.ts';
