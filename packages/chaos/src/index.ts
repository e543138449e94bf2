// Fault injection on the running cascade: the faults (Docker CLI), acknowledged traffic around them, what it showed.
export * from './docker.ts';
export * from './faults.ts';
export * from './outcome.ts';
export * from './plan.ts';
export * from './report.ts';
export * from './scenario.ts';
export * from './traffic.ts';
