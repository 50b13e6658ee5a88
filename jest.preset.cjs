// Shared Jest preset: @swc/jest transforms TypeScript (typechecking is the separate `typecheck`
// target), and the custom export condition makes workspace libs resolve to their sources.
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
};
