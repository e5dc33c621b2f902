import { PolicyVersions } from './versions';

describe('PolicyVersions', () => {
  it('admits newer and equal versions, refuses older ones per name', () => {
    const v = new PolicyVersions();
    expect(v.admit('a', 2)).toBe(true);
    expect(v.admit('a', 2)).toBe(true);
    expect(v.admit('a', 1)).toBe(false);
    expect(v.newestOf('a')).toBe(2);
    expect(v.admit('b', 1)).toBe(true);
    expect(v.admit('a', 5)).toBe(true);
    expect(v.admit('a', 4)).toBe(false);
    expect(v.newestOf('a')).toBe(5);
  });
});
