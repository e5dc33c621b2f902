// Addresses as the agent reports them: IPv4 dotted quads, IPv6 in RFC 5952 text (what the kernel's
// %pI6c and libs/tracefs print), IPv4-mapped IPv6 as ::ffff:a.b.c.d.
import type { Random } from './random';

/** Eight 16-bit groups → RFC 5952 text: lowercase, no leading zeros, the first longest run of ≥ 2 zero groups as "::". */
export function ipv6Text(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError(`IPv6 needs 8 groups, got ${groups.length}`);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

export const ANY_V4 = '0.0.0.0';
export const ANY_V6 = '::';

export function mappedV4(ipv4: string): string {
  return `::ffff:${ipv4}`;
}

/** First octets of public IPv4 space used for internet peers (clients of web hosts, external APIs). */
const PUBLIC_FIRST_OCTETS = [23, 31, 34, 35, 45, 52, 54, 62, 81, 91, 104, 142, 151, 176, 185, 188, 203, 212];

export function publicIpv4(rnd: Random): string {
  return `${rnd.pick(PUBLIC_FIRST_OCTETS)}.${rnd.int(0, 255)}.${rnd.int(0, 255)}.${rnd.int(1, 254)}`;
}

/** A global unicast address in 2a00::/12 with an interface id, as residential and cloud peers have. */
export function publicIpv6(rnd: Random): string {
  const iid = rnd.chance(0.5) ? [0, 0, 0, rnd.int(1, 0xffff)] : [rnd.int(0, 0xffff), rnd.int(0, 0xffff), rnd.int(0, 0xffff), rnd.int(1, 0xffff)];
  return ipv6Text([0x2a00 + rnd.int(0, 0xf), rnd.int(1, 0xffff), rnd.int(0, 0xffff), rnd.int(0, 0xffff), ...iid]);
}
