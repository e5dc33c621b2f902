// The start-up scan: listeners and connections that exist before the agent starts, so their later
// transitions (an accept on an old listener, the close of an old connection) have an owner.
// /proc/net/tcp{,6} list every TCP socket of the agent's network namespace with its inode;
// /proc/<pid>/fd/* link to `socket:[inode]` for the processes that hold it. The socket pointer in
// those files is hashed (%pK), so sockets are matched to later hits by address and port instead.
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { ipv6Text } from '@probefleet/events';

export interface ScannedSocket {
  family: 'AF_INET' | 'AF_INET6';
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  listening: boolean;
  inode: number;
}

/** /proc/net/tcp prints each 32-bit word of an address in host (little-endian) byte order. */
function address(hex: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(hex.slice(w + i, w + i + 2), 16));
  return bytes.length === 4 ? bytes.join('.') : ipv6Text(bytes);
}

const TCP_LISTEN = 0x0a;
const TCP_TIME_WAIT = 0x06;

/**
 * The sockets of a /proc/net/tcp or tcp6 text (TIME_WAIT has no owner: inode 0). `listenersOnly`:
 * the LISTEN ones, up to the first other one (see readListeners).
 */
export function parseProcNetTcp(text: string, family: 'AF_INET' | 'AF_INET6', listenersOnly = false): ScannedSocket[] {
  const out: ScannedSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, st, inode] = [f[1]!, f[2]!, parseInt(f[3]!, 16), Number(f[9])];
    if (listenersOnly && st !== TCP_LISTEN) break;
    if (st === TCP_TIME_WAIT || !(inode > 0)) continue;
    const [la, lp] = local.split(':') as [string, string];
    const [ra, rp] = remote.split(':') as [string, string];
    out.push({ family, saddr: address(la), sport: parseInt(lp, 16), daddr: address(ra), dport: parseInt(rp, 16), listening: st === TCP_LISTEN, inode });
  }
  return out;
}

/** socket inode → the pids holding it (every process that has it open, in /proc order). */
export function socketHolders(procRoot = '/proc', wanted?: ReadonlySet<number>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${entry}/fd`);
    } catch {
      continue; // gone, or a kernel thread
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${procRoot}/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.startsWith('socket:[')) continue;
      const inode = Number(link.slice(8, -1));
      if (wanted !== undefined && !wanted.has(inode)) continue;
      const pids = out.get(inode);
      if (pids === undefined) out.set(inode, [Number(entry)]);
      else if (!pids.includes(Number(entry))) pids.push(Number(entry));
    }
  }
  return out;
}

const CHUNK = 65536;

/**
 * The listeners of /proc/net/tcp or tcp6, read only as far as they go. The kernel lists the
 * listening hash before the established one (tcp_seq_start: TCP_SEQ_STATE_LISTENING first), and
 * seq_file makes a line only when it is read, so stopping at the first other socket spares
 * formatting every connection and TIME_WAIT (tens of thousands under a connection load).
 */
export function readListeners(file: string, family: 'AF_INET' | 'AF_INET6'): ScannedSocket[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return []; // no IPv6 in this kernel
  }
  const buf = Buffer.allocUnsafe(CHUNK);
  let text = '';
  try {
    // Until a whole line past the header has another state than LISTEN (its 4th field).
    while (!/\n\s*\d+: \S+ \S+ (?!0A)[0-9A-F]{2} /.test(text)) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      text += buf.toString('latin1', 0, n);
    }
  } finally {
    closeSync(fd);
  }
  return parseProcNetTcp(text, family, true);
}

export interface ScanResult<O> {
  sockets: (ScannedSocket & { owner: O })[];
  /** Sockets no process holds an fd of (not yet accepted, or orphaned): left unowned. */
  unheld: number;
}

/**
 * Every TCP socket of the namespace with its owner: the first process holding it (a socket shared
 * across fork has several holders; the first in /proc order is the oldest pid, normally the parent).
 */
export function scanSockets<O>(owner: (pid: number) => O | undefined, procRoot = '/proc'): ScanResult<O> {
  const all: ScannedSocket[] = [];
  for (const [file, family] of [['tcp', 'AF_INET'], ['tcp6', 'AF_INET6']] as const) {
    try {
      all.push(...parseProcNetTcp(readFileSync(`${procRoot}/net/${file}`, 'utf8'), family));
    } catch {
      // no IPv6 in this kernel
    }
  }
  const holders = socketHolders(procRoot, new Set(all.map((s) => s.inode)));
  const sockets: ScanResult<O>['sockets'] = [];
  let unheld = 0;
  for (const s of all) {
    const pid = holders.get(s.inode)?.[0];
    const o = pid === undefined ? undefined : owner(pid);
    if (o === undefined) unheld++;
    else sockets.push({ ...s, owner: o });
  }
  return { sockets, unheld };
}

/**
 * The listeners no `known` one covers, with their owners: the /proc fd walk (the costly part) is made
 * only when there is such a listener, and only for those. `skip`: inodes not to look for again;
 * `unowned`: the inodes looked for that no readable process holds.
 */
export function scanNewListeners<O>(
  known: (family: string, addr: string, port: number) => boolean,
  owner: (pid: number) => O | undefined,
  procRoot = '/proc',
  skip: ReadonlySet<number> = new Set(),
): { sockets: (ScannedSocket & { owner: O })[]; unowned: number[] } {
  const fresh = (['tcp', 'tcp6'] as const)
    .flatMap((file) => readListeners(`${procRoot}/net/${file}`, file === 'tcp' ? 'AF_INET' : 'AF_INET6'))
    .filter((s) => !skip.has(s.inode) && !known(s.family, s.saddr, s.sport));
  if (fresh.length === 0) return { sockets: [], unowned: [] };
  const holders = socketHolders(procRoot, new Set(fresh.map((s) => s.inode)));
  const sockets: (ScannedSocket & { owner: O })[] = [];
  const unowned: number[] = [];
  for (const s of fresh) {
    const pid = holders.get(s.inode)?.[0];
    const o = pid === undefined ? undefined : owner(pid);
    if (o === undefined) unowned.push(s.inode);
    else sockets.push({ ...s, owner: o });
  }
  return { sockets, unowned };
}
