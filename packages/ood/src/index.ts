/**
 * The SynOOD / NegLabel method's math, pure (no I/O): NegLabel mining and scores, OOD metrics,
 * baselines, negative assignment, projection and label-feature training, the detector bundle.
 * @packageDocumentation
 */
