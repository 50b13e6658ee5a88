// Shared Jest preset: @swc/jest transforms TypeScript (typechecking is the separate `typecheck`
// target), and the custom export condition makes workspace libs resolve to their sources.
// Nothing waits unbounded: testTimeout bounds each test and hook, testkit bounds every server
// start, and the global hooks bound the whole run and the exit after it (libs/testkit/jest).
// A failing test runs once more, with its first error printed (retry-once.cjs; JEST_RETRIES=0
// turns that off).
const { join } = require('node:path');

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      },
    ],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testEnvironmentOptions: {
    customExportConditions: ['@redis-patterns/source', 'node', 'require', 'default'],
  },
  testTimeout: 30000,
  setupFilesAfterEnv: [join(__dirname, 'libs/testkit/jest/retry-once.cjs')],
  globalSetup: join(__dirname, 'libs/testkit/jest/global-setup.cjs'),
  globalTeardown: join(__dirname, 'libs/testkit/jest/global-teardown.cjs'),
};
