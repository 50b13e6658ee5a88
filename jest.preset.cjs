// Shared Jest preset: @swc/jest transforms TypeScript (typechecking is the separate `typecheck`
// target), and the custom export condition makes workspace libs resolve to their sources.
// Nothing waits unbounded: testTimeout bounds each test and hook, testkit bounds every server
// start, and the global hooks bound the whole run and the exit after it (libs/testkit/jest).
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
  globalSetup: join(__dirname, 'libs/testkit/jest/global-setup.cjs'),
  globalTeardown: join(__dirname, 'libs/testkit/jest/global-teardown.cjs'),
};
