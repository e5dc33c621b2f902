const path = require('node:path');
const preset = require('../../jest.preset.js')(__dirname);
module.exports = {
  ...preset,
  // The store's tests run against the real PostgreSQL and Kafka: seconds, not milliseconds.
  testTimeout: 120000,
  // One file at a time: a test restarts the shared PostgreSQL server, which no other file may meet.
  maxWorkers: 1,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }] },
};
