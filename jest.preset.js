// Shared Jest settings: TypeScript through ts-jest (transpile only; `tsc -b` type-checks),
// workspace libs mapped to their sources so tests never need a prior build of a dependency.
//
// Test files are named by tier, and PROBEFLEET_TEST_TIER (a comma list; scripts/test.mjs sets it)
// selects which tiers a run takes; unset, a project runs all of its tiers:
//   unit    no service, no root, no network (pure code, the agent with fakes, fixtures)
//   int     one component against a real service: PostgreSQL, Kafka, this host's tracefs (root)
//   e2e     several processes together: agent, broker, aggregator, API, `npm start`
//   kernel  the kernel lab: Debian kernels booted under qemu
// scripts/test.mjs fails on a *.spec.ts outside these, so no file is silently left out.
const path = require('node:path');

const TIERS = ['unit', 'int', 'e2e', 'kernel'];

function selectedTiers() {
  const wanted = (process.env.PROBEFLEET_TEST_TIER || TIERS.join(',')).split(',').map((t) => t.trim()).filter(Boolean);
  const unknown = wanted.filter((t) => !TIERS.includes(t));
  if (unknown.length > 0) throw new Error(`PROBEFLEET_TEST_TIER: unknown tier ${unknown.join(', ')} (tiers: ${TIERS.join(', ')})`);
  return wanted;
}

/** Globs for the selected tiers' files under each of `dirs` (relative to the project). */
const tierMatch = (dirs) => selectedTiers().flatMap((t) => dirs.map((d) => `<rootDir>/${d}**/*.${t}.spec.ts`));

function preset(projectDir, overrides = {}) {
  // Jest reads testTimeout from the run's global config only, so in a run of several projects
  // (scripts/test.mjs runs each tier as one) a project's own value would be lost: a setup file
  // applies it in each of the project's test files instead.
  const { testTimeout, ...rest } = overrides;
  const timeout = testTimeout === undefined ? {} : {
    testTimeout,
    globals: { PROBEFLEET_TEST_TIMEOUT: testTimeout },
    setupFilesAfterEnv: [path.join(__dirname, 'jest.timeout.js')],
  };
  return {
    rootDir: projectDir,
    testEnvironment: path.join(__dirname, 'jest.environment.js'),
    transform: {
      '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(projectDir, 'tsconfig.spec.json') }],
    },
    moduleFileExtensions: ['ts', 'js', 'json'],
    moduleNameMapper: {
      // Generated code (the Prisma client) imports its TypeScript siblings by their .js names.
      '^(\\.{1,2}/.*)\\.js$': '$1',
      '^@platformatic/kafka$': path.join(__dirname, 'jest.native-esm.js'),
      '^@probefleet/(events|tracefs|kprobe-model|projections|fleet-sim|publish|kafka|api-client|ownership|signature|policy)$': path.join(__dirname, 'libs/$1/src/index.ts'),
    },
    testMatch: tierMatch(['src/', 'test/']),
    ...timeout,
    ...rest,
  };
}

module.exports = preset;
module.exports.TIERS = TIERS;
module.exports.selectedTiers = selectedTiers;
module.exports.tierMatch = tierMatch;
