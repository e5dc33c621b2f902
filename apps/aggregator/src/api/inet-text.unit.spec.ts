import { checkAddressOrCidr, inetText } from './inet-text';

describe('inetText (PostgreSQL host() text → the agent spelling)', () => {
  it.each([
    ['::1.2.3.4', '::102:304'], ['::0.1.0.0', '::1:0'], ['::0.1.0.2', '::1:2'], ['::255.255.255.254', '::ffff:fffe'], ['::0.0.1.2', '::102'],
    // Everything else PostgreSQL prints as the agent does.
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'], ['::1', '::1'], ['::', '::'], ['10.0.0.1', '10.0.0.1'], ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
  ])('%s → %s', (pg, agent) => expect(inetText(pg)).toBe(agent));
});

describe('checkAddressOrCidr', () => {
  it.each(['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '10.1.2.3/32', '::1', '::', 'fd00::/8', '2001:db8::/32', '::ffff:10.0.0.0/104', '::102:304', '::1.2.3.4', 'FD00::/8', '::/0', '1:2:3:4:5:6:7:8/128'])('accepts %s', (s) => {
    expect(checkAddressOrCidr(s)).toEqual({ ok: true });
  });

  it.each(['', 'x', '10.0.0', '10.0.0.256', '010.0.0.1', '10.0.0.1/', '10.0.0.1/08', '1::2::3', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', '::g', '10.0.0.0/8/8', ' 10.0.0.1', '12345::'])('refuses %j', (s) => {
    expect(checkAddressOrCidr(s)).toEqual({ ok: false, message: 'expected an address or CIDR like 10.0.0.0/8' });
  });

  it('refuses a prefix longer than the address', () => {
    expect(checkAddressOrCidr('10.0.0.0/33')).toEqual({ ok: false, message: 'expected a prefix length of at most 32' });
    expect(checkAddressOrCidr('::/129')).toEqual({ ok: false, message: 'expected a prefix length of at most 128' });
  });

  it('refuses host bits set, naming the network and the single address', () => {
    expect(checkAddressOrCidr('10.0.0.1/8')).toEqual({ ok: false, message: '10.0.0.1/8 has host bits set: expected the network 10.0.0.0/8, or 10.0.0.1 alone for the one address' });
    expect(checkAddressOrCidr('fd00::1/8')).toEqual({ ok: false, message: 'fd00::1/8 has host bits set: expected the network fd00::/8, or fd00::1 alone for the one address' });
    expect(checkAddressOrCidr('2001:db8:0:1:0:0:1:1/64')).toMatchObject({ message: expect.stringContaining('the network 2001:db8:0:1::/64') });
    expect(checkAddressOrCidr('10.0.0.128/25')).toEqual({ ok: true });
    expect(checkAddressOrCidr('10.0.0.129/25')).toMatchObject({ ok: false });
  });
});
