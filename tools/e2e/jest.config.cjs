module.exports = {
  displayName: 'e2e',
  preset: '../../jest.preset.cjs',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 1,
};
