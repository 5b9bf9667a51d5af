/** Upper bound for one test; generous so that a loaded two-core CI machine is not a failure. */
export const TEST_TIMEOUT_MS = 60_000;
