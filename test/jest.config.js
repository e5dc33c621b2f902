// The test/ project: deploy files, integration and end-to-end tests against real Kafka, PostgreSQL
// and tracefs, and the kernel lab. Its global set-up depends on the tiers run: int/e2e check that
// the stack answers (naming what does not) before any test runs; the kernel lab checks the host's
// qemu & co; the unit tier (deploy files) needs neither.
const path = require('node:path');
const preset = require('../jest.preset.js');

const tiers = preset.selectedTiers();
const globalSetup = tiers.some((t) => t === 'int' || t === 'e2e')
  ? '<rootDir>/support/global-setup.ts'
  : tiers.includes('kernel') ? '<rootDir>/kernel-lab/global-setup.ts' : undefined;

module.exports = {
  ...preset(__dirname, { testTimeout: 120000 }),
  // CommonJS, like the aggregator's own tests: the Grafana test imports its store (the Prisma client).
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }] },
  testMatch: preset.tierMatch(['']),
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/fixtures/'],
  ...(globalSetup ? { globalSetup } : {}),
};
