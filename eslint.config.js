// Lint rules: typescript-eslint's recommended set, plus the type-aware rules that catch what bites a
// message runner (a floating promise loses a settlement; a misused promise swallows an error).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // syntax-error.ts is a fixture that must not compile: the tests check how Warren reports it.
  { ignores: ['dist/**', 'node_modules/**', 'test-artifacts/**', 'coverage/**', 'test/fixtures/functions/syntax-error.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      // Warren refuses names with control characters on purpose; the regular expressions that find them say so.
      'no-control-regex': 'off',
      // It flags an initial value that a later branch overwrites; those initialisers are kept for the reader.
      'no-useless-assignment': 'off',
    },
  },
  { files: ['**/*.d.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
  },
);
