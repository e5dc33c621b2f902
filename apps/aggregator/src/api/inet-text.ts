// Addresses as the API returns and accepts them.
//
// Output: PostgreSQL's host(inet) text equals the agent's (RFC 5952; IPv4-mapped as ::ffff:a.b.c.d)
// except for IPv4-compatible IPv6 (::/96 above ::ffff), which PostgreSQL prints as ::a.b.c.d and
// the agent as ::102:304. inetText() turns that one form back into the agent's spelling.
//
// Input: an address or a CIDR, checked here so a bad one is a 400 naming the parameter rather than
// a PostgreSQL cast error. A CIDR with host bits set (10.0.0.1/8) is refused, not normalised: it is
// ambiguous (10.0.0.0/8 or the one address 10.0.0.1?), so the message names both readings.

import { canonicalAddress, parseIpv4, parseIpv6 } from '@probefleet/events';

/** PostgreSQL's host(addr) text in the agent's spelling (the one parser and formatter: libs/events). */
export function inetText(pg: string): string {
  return pg.includes(':') ? (canonicalAddress('AF_INET6', pg) ?? pg) : pg;
}

export type InetCheck = { ok: true } | { ok: false; message: string };

/** Whether text is an IPv4/IPv6 address or CIDR PostgreSQL's inet reads as the caller means it. */
export function checkAddressOrCidr(text: string): InetCheck {
  const bad: InetCheck = { ok: false, message: 'expected an address or CIDR like 10.0.0.0/8' };
  const m = /^([^/]+)(?:\/(0|[1-9]\d{0,2}))?$/.exec(text);
  if (!m) return bad;
  const [, addr, prefixText] = m as unknown as [string, string, string | undefined];
  const bytes = addr.includes(':') ? parseIpv6(addr) : parseIpv4(addr);
  if (!bytes) return bad;
  if (prefixText === undefined) return { ok: true };
  const prefix = Number(prefixText);
  if (prefix > bytes.length * 8) return { ok: false, message: `expected a prefix length of at most ${bytes.length * 8}` };
  const hostBits = bytes.some((byte, i) => (byte & (0xff >> Math.min(8, Math.max(0, prefix - i * 8)))) !== 0);
  if (!hostBits) return { ok: true };
  const network = bytes.map((byte, i) => byte & ~(0xff >> Math.min(8, Math.max(0, prefix - i * 8))) & 0xff);
  return { ok: false, message: `${text} has host bits set: expected the network ${networkText(network)}/${prefix}, or ${addr} alone for the one address` };
}

function networkText(bytes: number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // The longest run of two or more zero groups becomes ::, as RFC 5952 says.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  return best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}
