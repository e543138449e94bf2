/**
 * `npm run experiment [-- <name>] [options]`: the strategy comparison, or `attacks` (the
 * attack lab, experiments/attacks.ts). Each experiment reads its own options.
 */
if (process.argv[2] === 'attacks') await import('./attacks.ts');
else await import('./strategy-comparison.ts');
