'use strict';
/**
 * Shared jest preset for every workspace.
 *
 * - Runs tests in the onnxruntime-safe environment (see ort-environment.js).
 * - Transpiles TypeScript with swc (type checking is `tsc --noEmit`, a separate gate).
 * - Resolves `@synood/<pkg>` to the workspace's TypeScript source, so tests never need a prior build.
 * - Test tiers by suffix: `*.test.ts` (unit), `*.int.test.ts` (real Redis / S3 on loopback),
 *   `*.model.test.ts` (real onnxruntime on generated fixture models).
 */
const path = require('node:path');

/** Generous upper bounds, in the spirit of transformers.js MAX_*_TIME: a slow CI box is not a failure. */
const TEST_TIMEOUT_MS = 60_000;

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: path.join(__dirname, 'ort-environment.js'),
  injectGlobals: false,
  testTimeout: TEST_TIMEOUT_MS,
  // In CI a handle some suite failed to release (a socket, a child process) must not keep jest alive
  // after the results are in: the run would wait for the CI job's own time limit. Locally jest still
  // reports such leaks ("did not exit one second after the test run"), so they get fixed.
  forceExit: process.env.CI === 'true',
  roots: ['<rootDir>/src', '<rootDir>/test'].filter(Boolean),
  testMatch: ['**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'json', 'node'],
  transform: {
    // A few dependencies of the API ship as ESM only (content-disposition 3 under @fastify/static,
    // cookie 1 under light-my-request, which `inject` uses). Node ≥ 20.19 loads them through
    // require(esm); jest's module runtime does not, so they are compiled to CommonJS.
    '/node_modules/(.+/)?(content-disposition|cookie)/.+\\.js$': [
      require.resolve('@swc/jest'),
      { jsc: { target: 'es2023' }, module: { type: 'commonjs' } },
    ],
    '^.+\\.ts$': [
      require.resolve('@swc/jest'),
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!((.+/)?node_modules/)?(content-disposition|cookie)/)'],
  moduleNameMapper: {
    // Packages first, then services (`synood up` and cross-service tests import the services' entry points).
    '^@synood/([a-z0-9-]+)$': [
      path.join(__dirname, '..', '$1', 'src', 'index.ts'),
      path.join(__dirname, '..', '..', 'services', '$1', 'src', 'index.ts'),
    ],
  },
};
