module.exports = {
  displayName: 'deploy-checks',
  preset: '../../jest.preset.cjs',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
};
