// Integration and end-to-end tests: real Kafka, PostgreSQL and tracefs. globalSetup checks that the
// stack answers (and names what does not) before any test runs.
const path = require('node:path');
module.exports = {
  ...require('../jest.preset.js')(__dirname),
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.json') }] },
  testMatch: ['<rootDir>/integration/**/*.spec.ts', '<rootDir>/e2e/**/*.spec.ts', '<rootDir>/kernel-lab/**/*.spec.ts'],
  globalSetup: '<rootDir>/support/global-setup.ts',
  testTimeout: 120000,
};
