// Flat ESLint config for the whole workspace. Nx's module-boundary rule keeps the layering honest:
// apps may use libs, libs never use apps, and the pure libs (events, kprobe-model) import no I/O.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'fs/promises', 'node:*', 'child_process', 'net', 'http', 'https', 'os', 'dgram', 'worker_threads',
  'kafkajs', 'pg', '@prisma/*', 'pino', 'prom-client', '@nestjs/*',
];

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
  {
    // Tests of pure libs may read fixtures from disk; the rule is about the libraries' runtime code.
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
);
