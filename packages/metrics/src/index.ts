/**
 * @packageDocumentation
 * The only importer of prom-client: per-process registries holding the platform's metrics (stage job
 * durations and waits, items, images per second, ONNX run and model load times, API latency, queue
 * depth) behind typed helpers that cache label children and reject id-like label values.
 */
export * from './buckets';
export * from './errors';
export * from './labels';
export * from './metrics';
export * from './rate-meter';
export * from './server';
