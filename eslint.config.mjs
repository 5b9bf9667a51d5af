// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** One adapter package per external system (design §3): everyone else must go through it. */
const ADAPTERS = [
  { module: 'onnxruntime-node', owner: 'packages/onnx' },
  { module: 'onnxruntime-common', owner: 'packages/onnx' },
  { module: 'bullmq', owner: 'packages/queue' },
  { module: '@aws-sdk/*', owner: 'packages/storage' },
  { module: 'prom-client', owner: 'packages/metrics' },
];

const restrictedFor = (owner) =>
  ADAPTERS.filter((a) => a.owner !== owner).map((a) => ({
    group: [a.module],
    message: `Only ${a.owner} may import ${a.module}; use that package instead.`,
  }));

export default defineConfig(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '**/.turbo/**'] },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['**/*.ts'],
    extends: [
      js.configs.recommended,
      tseslint.configs.strictTypeChecked,
      tseslint.configs.stylisticTypeChecked,
    ],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      eqeqeq: ['error', 'always'],
      curly: ['error', 'all'],
      'no-console': 'off',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      // Typed-array math indexes in hot loops; `!` after a bounds-checked index is the honest form.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/prefer-for-of': 'off',
      'no-restricted-imports': ['error', { patterns: restrictedFor('') }],
      // Configuration is parsed once, by packages/config (style guide §7.8).
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through @synood/config.' },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  ...ADAPTERS.map((a) => ({
    files: [`${a.owner}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: restrictedFor(a.owner) }] },
  })),
);
