import { globMatches, inKernelRange, selects, type HostFacts } from './selector';

const host: HostFacts = { host: 'web-3.eu', kernelRelease: '6.1.0-28-amd64', mode: 'kprobe', labels: { role: 'web', tier: '1' } };

describe('selector', () => {
  it('selects every host when empty', () => expect(selects({}, host)).toBe(true));

  it('matches host names and globs', () => {
    expect(globMatches('web-*', 'web-3.eu')).toBe(true);
    expect(globMatches('web-?.eu', 'web-3.eu')).toBe(true);
    expect(globMatches('web-?', 'web-3.eu')).toBe(false);
    // A dot is a dot, not any character.
    expect(globMatches('web-3.eu', 'web-3xeu')).toBe(false);
    expect(selects({ hosts: ['db*', 'web-3.eu'] }, host)).toBe(true);
    expect(selects({ hosts: ['db*'] }, host)).toBe(false);
  });

  it.each([
    ['6.1.0-28-amd64', { min: '6.1' }, true],
    ['6.1.0-28-amd64', { min: '6.1.1' }, false],
    ['6.12.57+deb13-amd64', { max: '6.12' }, true],
    ['6.13.0', { max: '6.12' }, false],
    ['6.18.2', { min: '6.1', max: '6.12' }, false],
    ['5.15.0', { min: '6' }, false],
    ['weird', { min: '6' }, false],
  ])('kernel %s in %j: %s', (release, range, expected) => {
    expect(inKernelRange(release, range)).toBe(expected);
  });

  it('needs the mode and every label', () => {
    expect(selects({ modes: ['tracepoint'] }, host)).toBe(false);
    expect(selects({ modes: ['kprobe'], labels: { role: 'web' } }, host)).toBe(true);
    expect(selects({ labels: { role: 'web', tier: '2' } }, host)).toBe(false);
    expect(selects({ labels: { zone: '' } }, host)).toBe(false);
  });
});
