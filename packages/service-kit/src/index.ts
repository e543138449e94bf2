export * from './env.ts';
export * from './errors.ts';
export * from './forwarder.ts';
export * from './frame-sender.ts';
export * from './http.ts';
export * from './registration.ts';
export * from './retry.ts';
export * from './wire-tap.ts';
