const path = require('node:path');
// The store's tests run against the real PostgreSQL and Kafka: seconds, not milliseconds.
const preset = require('../../jest.preset.js')(__dirname, { testTimeout: 120000 });
module.exports = {
  ...preset,
  // One file at a time: the files share the broker and the PostgreSQL server, and some load them hard.
  // Under scripts/test.mjs (PROBEFLEET_TEST_TIER set) the runner does that for every tier beyond
  // unit (--runInBand), and Jest takes maxWorkers from no project config of a multi-project run.
  ...(process.env.PROBEFLEET_TEST_TIER ? {} : { maxWorkers: 1 }),
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }] },
};
