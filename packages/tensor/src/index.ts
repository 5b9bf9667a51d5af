/**
 * Pure typed-array math for the SynOOD pipeline: no I/O, no native code.
 * @packageDocumentation
 */
export * from './matrix';
export * from './matmul';
export * from './reduce';
export * from './stats';
export * from './rng';
export * from './optim';
export * from './backend';
export * from './npy';
