/**
 * Test helpers shared by every workspace. The jest preset itself lives in `jest-preset.js`.
 */
export { TEST_TIMEOUT_MS } from './constants';
export * from './http-fixture-server';
export * from './chat-completions-server';
export * from './s3rver';
