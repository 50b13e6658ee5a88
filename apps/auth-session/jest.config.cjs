module.exports = {
  displayName: 'auth-session',
  preset: '../../jest.preset.cjs',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
};
