// Address text as the agent writes it — IPv4 dotted quads, IPv6 per RFC 5952 with IPv4-mapped
// addresses as ::ffff:a.b.c.d (the kernel's %pI6c) — parsed to bytes and spelled back, so a reader
// can tell the one canonical spelling of an address and give it back exactly from a typed column.

/** The 4 bytes of a dotted quad without leading zeros, or undefined. */
export function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return bytes;
}

/** The 16 bytes of any valid IPv6 text (with or without ::, an IPv4 tail allowed), or undefined. */
export function parseIpv6(text: string): number[] | undefined {
  if (text.length > 45 || text.length < 2) return undefined;
  let groups: string[];
  let tail: number[] = [];
  const last = text.lastIndexOf(':');
  if (text.indexOf('.', last) > last) {
    const v4 = parseIpv4(text.slice(last + 1));
    if (!v4) return undefined;
    tail = v4;
    text = `${text.slice(0, last + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const split = (s: string) => (s === '' ? [] : s.split(':'));
  if (halves.length === 2) {
    const [head, rest] = [split(halves[0]!), split(halves[1]!)];
    if (head.length + rest.length > 7) return undefined;
    groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  } else {
    groups = split(text);
    if (groups.length !== 8) return undefined;
  }
  const bytes: number[] = [];
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** 16 bytes → RFC 5952 text (longest run of two or more zero groups, first wins), mapped v4 dotted. */
export function ipv6Text(b: ArrayLike<number>): string {
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i] as number) << 8) | (b[i + 1] as number));
  const mapped = w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff;
  const groups = mapped ? 6 : 8;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < groups; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => w.slice(from, to).map((x) => x.toString(16)).join(':');
  let text = best < 0 ? hex(0, groups) : `${hex(0, best)}::${hex(best + bestLen, groups)}`;
  if (mapped) text += `${text.endsWith(':') ? '' : ':'}${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return text;
}

/** The agent's spelling of any valid address text of the family (PostgreSQL's inet output included). */
export function canonicalAddress(family: 'AF_INET' | 'AF_INET6', text: string): string | undefined {
  if (family === 'AF_INET') return parseIpv4(text) ? text : undefined;
  const bytes = parseIpv6(text);
  return bytes && ipv6Text(bytes);
}
