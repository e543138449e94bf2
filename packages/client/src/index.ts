export * from './acknowledged-sender.ts';
export * from './cover-traffic.ts';
export * from './gateway-client.ts';
export * from './message.ts';
export * from './mixnet-client.ts';
export * from './retry-after.ts';
export * from './transient.ts';
