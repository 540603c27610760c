// The policy's public surface in one import; see the top of evaluate.ts for how it fits.
export * from './behaviour.js';
export * from './cascade.js';
export * from './combine.js';
export * from './config.js';
export * from './evaluate.js';
export * from './schedules.js';
export * from './strategies.js';
