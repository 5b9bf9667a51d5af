/**
 * Fixtures of the captioner tests: the shared ones from `@synood/test-fixtures`.
 */
export * from '@synood/test-fixtures';
