// The container plumbing tests and experiments share: a compose cascade, Prometheus queries, the dashboard's queries.
export * from './cascade.ts';
export * from './dashboard.ts';
export * from './gateway-agent.ts';
export * from './prometheus.ts';
export * from './repo.ts';
