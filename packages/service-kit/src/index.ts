/**
 * The worker services' shared kit (design §3: services are thin shells): one environment parse listing
 * every bad variable, stores and model paths, stage artifact I/O (done-marker first, checksummed
 * artifacts, marker last), image reading with per-item failures, the service runner (startup checks,
 * one worker per stage, the metrics server) and exit codes.
 * @packageDocumentation
 */
export * from './env';
export * from './errors';
export * from './images';
export * from './io';
export * from './logger';
export * from './main';
export * from './models';
export * from './serve';
export * from './shard-job';
export * from './stores';
export * from './worker-service';
