const path = require('node:path');
const preset = require('../../jest.preset.js')(__dirname);
module.exports = {
  ...preset,
  // The store's tests run against the real PostgreSQL and Kafka: seconds, not milliseconds.
  testTimeout: 120000,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }] },
};
