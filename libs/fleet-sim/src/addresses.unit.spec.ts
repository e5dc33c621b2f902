import fc from 'fast-check';
import { ipv6Text } from './addresses';

describe('ipv6Text', () => {
  it('spells addresses as RFC 5952 (what the WHATWG URL serializer and the kernel\'s %pI6c print)', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const viaUrl = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
        expect(ipv6Text(groups)).toBe(viaUrl);
      }),
    );
    expect(ipv6Text([0xfd00, 0x10, 1, 0, 0, 0, 0, 0x1a])).toBe('fd00:10:1::1a');
    expect(ipv6Text([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
    expect(ipv6Text([1, 0, 2, 0, 3, 0, 4, 0])).toBe('1:0:2:0:3:0:4:0');
  });
});
