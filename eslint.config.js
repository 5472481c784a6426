import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'bench/results/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Hot paths (produce, storage, delivery, the client): on Node 20 the objects an object literal
    // starting with a spread ({ ...x, y }) builds are promoted out of the young generation even when
    // they are garbage at once, lengthening every scavenge pause; with the fields named, or the spread
    // after one, they are not (measured: README, Benchmarks).
    files: [
      'src/broker.ts',
      'src/base/record-batch.ts',
      'src/partition/partition.ts',
      'src/storage/segment*.ts',
      'src/group/{coordinator,group-state,partition-cursor}.ts',
      'src/server/grpc/{consume,convert,produce-stream}.ts',
      'src/client/{consumer,consumer-dispatch,consumer-handlers,consumer-session,produce-request,produce-stream,producer,producer-lanes}.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ObjectExpression > SpreadElement:first-child', message: 'A literal starting with a spread is promoted by V8 on Node 20 (see eslint.config.js): name the fields or spread after one.' },
      ],
    },
  },
  {
    // Tests and tools may use looser typing at their edges; floating promises stay errors everywhere.
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  {
    files: ['eslint.config.js', '.dependency-cruiser.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The web console: plain ES modules run by the browser (not part of the TypeScript program).
    files: ['src/server/http/ui/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window', 'document', 'location', 'history', 'navigator', 'fetch', 'setTimeout', 'clearTimeout', 'URLSearchParams', 'AbortController',
          'ResizeObserver', 'HTMLElement', 'Node', 'Intl', 'atob', 'console',
        ].map((name) => [name, 'readonly']),
      ),
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      'no-undef': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
    },
  },
  {
    files: ['.dependency-cruiser.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
);
