// The rescan's reading of listeners, against a /proc made here: /proc/net/tcp as the kernel lays it
// out (listeners first), and fds that link to socket inodes.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readListeners, scanNewListeners } from './scan';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
/** One line of /proc/net/tcp (padded to 149 characters, as the kernel does). */
const tcpLine = (sl: number, local: string, remote: string, st: string, inode: number) =>
  `${String(sl).padStart(4)}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`.padEnd(149);
const port = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');

describe('readListeners', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scan-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the listeners, across reads of the file, and stops at the first other socket', () => {
    const lines = [HEADER];
    // 1000 listeners (~150 KB: several reads), then connections; a LISTEN line after those is not read.
    for (let i = 0; i < 1000; i++) lines.push(tcpLine(i, `0100007F:${port(10000 + i)}`, '00000000:0000', '0A', 5000 + i));
    lines.push(tcpLine(1000, '0100007F:C350', '0100007F:2710', '01', 9000));
    lines.push(tcpLine(1001, '0100007F:C351', '0100007F:2710', '06', 0));
    lines.push(tcpLine(1002, '0100007F:FFFF', '00000000:0000', '0A', 9001));
    writeFileSync(join(dir, 'tcp'), `${lines.join('\n')}\n`);
    const found = readListeners(join(dir, 'tcp'), 'AF_INET');
    expect(found).toHaveLength(1000);
    expect(found[0]).toEqual({ family: 'AF_INET', saddr: '127.0.0.1', sport: 10000, daddr: '0.0.0.0', dport: 0, listening: true, inode: 5000 });
    expect(found.at(-1)).toMatchObject({ sport: 10999, inode: 5999 });
  });

  it('is empty for a file that is not there (no IPv6)', () => {
    expect(readListeners(join(dir, 'tcp6'), 'AF_INET6')).toEqual([]);
  });
});

describe('scanNewListeners', () => {
  const proc = mkdtempSync(join(tmpdir(), 'scan-unit-proc-'));
  mkdirSync(join(proc, 'net'));
  writeFileSync(join(proc, 'net', 'tcp'), [HEADER, tcpLine(0, `0100007F:${port(8080)}`, '00000000:0000', '0A', 111), tcpLine(1, `00000000:${port(9090)}`, '00000000:0000', '0A', 222), ''].join('\n'));
  for (const [pid, inode] of [[7, 111], [8, 222]]) {
    mkdirSync(join(proc, String(pid), 'fd'), { recursive: true });
    symlinkSync(`socket:[${inode}]`, join(proc, String(pid), 'fd', '3'));
  }
  afterAll(() => rmSync(proc, { recursive: true, force: true }));

  it('owns only the listeners not known yet, and skips the inodes it is told to', () => {
    const asked: number[] = [];
    const owner = (pid: number) => (asked.push(pid), { pid });
    const known = (family: string, addr: string, p: number) => family === 'AF_INET' && addr === '127.0.0.1' && p === 8080;
    expect(scanNewListeners(known, owner, proc)).toEqual({ sockets: [expect.objectContaining({ saddr: '0.0.0.0', sport: 9090, owner: { pid: 8 } })], unowned: [] });
    expect(asked).toEqual([8]);
    expect(scanNewListeners(known, owner, proc, new Set([222]))).toEqual({ sockets: [], unowned: [] });
    expect(scanNewListeners(() => true, owner, proc)).toEqual({ sockets: [], unowned: [] });
    expect(asked).toEqual([8]);
  });

  it('names the inodes that no readable process holds', () => {
    expect(scanNewListeners(() => false, () => undefined, proc).unowned.sort()).toEqual([111, 222]);
  });
});
