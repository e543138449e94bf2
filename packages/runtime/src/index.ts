// Time, randomness and key files: what every other package takes from the machine, in one place.
export * from './key-file.ts';
