// A project's testTimeout, applied per test file (see jest.preset.js); a file's own
// jest.setTimeout() still wins, as it runs after this.
jest.setTimeout(globalThis.PROBEFLEET_TEST_TIMEOUT);
