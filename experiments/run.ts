/**
 * `npm run experiment [-- <name>] [-- options]`: the strategy comparison by default, or the
 * experiment named first: `anonymity` (experiments/anonymity.ts), `attacks` (the attack lab,
 * experiments/attacks.ts) or `n1` (the live round-based n − 1 attack,
 * experiments/n-minus-one.ts). The chosen module reads the remaining arguments.
 */
if (process.argv[2] === 'attacks') {
  await import('./attacks.ts');
} else if (process.argv[2] === 'n1') {
  await import('./n-minus-one.ts');
} else if (process.argv[2] === 'anonymity') {
  process.argv.splice(2, 1);
  await import('./anonymity.ts');
} else {
  await import('./strategy-comparison.ts');
}
