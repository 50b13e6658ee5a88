module.exports = {
  displayName: 'chat-realtime',
  preset: '../../jest.preset.cjs',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
};
