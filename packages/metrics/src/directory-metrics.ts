import { Counter, Gauge, type Registry } from 'prom-client';

export interface DirectoryMetrics {
  readonly registrations: Counter<'outcome'>;
  readonly nodes: Gauge<'layer'>;
}

export function directoryMetrics(registry: Registry): DirectoryMetrics {
  const registers = [registry];
  const registrations = new Counter({
    name: 'mixlab_directory_registrations_total',
    help: 'Node registrations, by whether the directory accepted them.',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of ['accepted', 'rejected']) registrations.inc({ outcome }, 0);
  return {
    registrations,
    nodes: new Gauge({
      name: 'mixlab_directory_nodes',
      help: 'Nodes registered, per layer.',
      labelNames: ['layer'],
      registers,
    }),
  };
}
