/**
 * The SynOOD / NegLabel method's math, pure (no I/O): NegLabel mining and scores, OOD metrics,
 * baselines, negative assignment, projection and label-feature training, the detector bundle.
 * @packageDocumentation
 */
export * from './errors';
export * from './score';
export * from './assign';
export * from './training';
export * from './projection';
export * from './label-finetune';
export * from './detector';
export * from './selection';
export * from './metrics';
export * from './wordnet';
export * from './mining';
export * from './synthetic';
