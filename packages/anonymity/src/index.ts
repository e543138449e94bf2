export * from './closed-forms.ts';
export * from './entropy.ts';
export * from './observer.ts';
export * from './scoring.ts';
export * from './wire.ts';
