/**
 * `npm run experiment [-- <name>] [-- options]`: the strategy comparison by default, or the
 * experiment named first (`anonymity`). The chosen module reads the remaining arguments.
 */
const EXPERIMENTS: Record<string, string> = {
  anonymity: './anonymity.ts',
};

const name = process.argv[2];
if (name !== undefined && name in EXPERIMENTS) {
  process.argv.splice(2, 1);
  await import(EXPERIMENTS[name] as string);
} else {
  await import('./strategy-comparison.ts');
}
