import { parseSessionSecrets } from './session-secrets';

describe('parseSessionSecrets', () => {
  const a = 'a'.repeat(32);
  const b = 'b'.repeat(40);

  it('keeps the order: the first secret signs, the others still verify', () => {
    expect(parseSessionSecrets(` ${a} , ${b} `)).toEqual([a, b]);
  });

  it('refuses a short secret and says which one', () => {
    expect(() => parseSessionSecrets(`${a},short`)).toThrow(/secret #2 is 5 characters/);
  });

  it('refuses an empty list', () => {
    expect(() => parseSessionSecrets(' , ')).toThrow(/at least one/);
  });
});
