/**
 * One schema per payload, shared by the API and the workers (design §3): run spec, stage payloads and
 * results, done-markers, run and stage states, error codes, stage and queue names.
 * @packageDocumentation
 */
export * from './stages';
export * from './errors';
export * from './run-spec';
export * from './payloads';
export * from './states';
export * from './layout';
