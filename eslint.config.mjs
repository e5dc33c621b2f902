// Flat ESLint config for the whole workspace. Nx's module-boundary rule keeps the layering honest:
// apps may use libs, libs never use apps, and the pure libs (events, kprobe-model) import no I/O.
import nx from '@nx/eslint-plugin';
import jsoncParser from 'jsonc-eslint-parser';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'fs/promises', 'node:*', 'child_process', 'net', 'http', 'https', 'os', 'dgram', 'worker_threads',
  'kafkajs', 'pg', '@prisma/*', 'pino', 'prom-client', '@nestjs/*',
];

// Dependencies no import shows, because another package loads them at run time: NestJS loads its
// HTTP platform by name; the generated Prisma client (src/generated, outside the project graph)
// imports @prisma/client; nestjs-pino and @nestjs/* take pino, pino-http and rxjs as peers.
const runtimeOnly = {
  '*': [],
  'apps/aggregator': ['@nestjs/platform-express', '@prisma/client', 'pino', 'pino-http', 'rxjs'],
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', '**/*.js', '**/*.mjs', '.run/**', '.kernel-lab/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:pure', onlyDependOnLibsWithTags: ['scope:pure'], bannedExternalImports: ioModules },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:app'] },
          ],
        },
      ],
    },
  },
  // Each package.json lists exactly what its production code imports (the build's inputs: no specs),
  // so an unused dependency cannot creep back and a missing one fails lint, not a deployment.
  ...Object.entries(runtimeOnly).map(([dir, ignoredDependencies]) => ({
    files: [dir === '*' ? '**/package.json' : `${dir}/package.json`],
    ignores: dir === '*' ? Object.keys(runtimeOnly).filter((d) => d !== '*').map((d) => `${d}/package.json`) : [],
    languageOptions: { parser: jsoncParser },
    plugins: { '@nx': nx },
    rules: { '@nx/dependency-checks': ['error', { ignoredFiles: ['{projectRoot}/test/**', '{projectRoot}/**/*.spec.ts'], ignoredDependencies }] },
  })),
  {
    // Tests of pure libs may read fixtures from disk; the rule is about the libraries' runtime code.
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
);
