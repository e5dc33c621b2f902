// Shared Jest settings: TypeScript through ts-jest (transpile only; `tsc -b` type-checks),
// workspace libs mapped to their sources so tests never need a prior build of a dependency.
const path = require('node:path');

module.exports = function preset(projectDir, overrides = {}) {
  return {
    rootDir: projectDir,
    testEnvironment: 'node',
    transform: {
      '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(projectDir, 'tsconfig.spec.json') }],
    },
    moduleFileExtensions: ['ts', 'js', 'json'],
    moduleNameMapper: {
      // Generated code (the Prisma client) imports its TypeScript siblings by their .js names.
      '^(\\.{1,2}/.*)\\.js$': '$1',
      '^@probefleet/(events|tracefs|kprobe-model|projections|fleet-sim|publish)$': path.join(__dirname, 'libs/$1/src/index.ts'),
    },
    testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    ...overrides,
  };
};
