import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { KprobeView, type ViewedProbe } from './kprobe-view';

const log = pino({ level: 'silent' });
const TCP: ViewedProbe = { name: 'tcp_set_state', kind: 'kprobe', symbol: 'tcp_set_state', offset: 0, address: '0xffffffff81c00c30' };
const USER: ViewedProbe = { name: 'later', kind: 'kprobe', symbol: 'tcp_set_state', offset: 14, address: '0xffffffff81c00c3e' };
let dir: string;
const list = (text: string) => writeFile(join(dir, 'list'), text);

beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'kprobes-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('KprobeView', () => {
  it('reports the mechanism and the real address on arming, then each change once', async () => {
    const view = new KprobeView(dir, log);
    await list('ffffffff81c00c34  k  tcp_set_state+0x4    [FTRACE]\nffffffff81c00c3e  k  tcp_set_state+0xe    \n');
    expect(await view.armed(TCP)).toEqual({ probe: 'tcp_set_state', mechanism: 'ftrace', address: '0xffffffff81c00c34' });
    expect(await view.armed(USER)).toEqual({ probe: 'later', mechanism: 'int3', address: '0xffffffff81c00c3e' });
    expect(await view.changes()).toEqual([]);
    await list('ffffffff81c00c34  k  tcp_set_state+0x4    [FTRACE]\nffffffff81c00c3e  k  tcp_set_state+0xe    [OPTIMIZED]\n');
    expect(await view.changes()).toEqual([{ probe: 'later', mechanism: 'optimized', disabled: false, gone: false }]);
    expect(await view.changes()).toEqual([]);
    view.forget('later');
    await list('ffffffff81c00c34  k  tcp_set_state+0x4    [DISABLED][FTRACE]\nffffffff81c00c3e  k  tcp_set_state+0xe    [DISABLED]\n');
    expect(await view.changes()).toEqual([{ probe: 'tcp_set_state', mechanism: 'ftrace', disabled: true, gone: false }]);
  });

  it('reports no mechanism for a tracepoint, nor without debugfs', async () => {
    const tracepoint: ViewedProbe = { name: 'inet_sock_set_state', kind: 'tracepoint', symbol: null, offset: 0, address: undefined };
    expect(await new KprobeView(dir, log).armed(tracepoint)).toEqual({ probe: 'inet_sock_set_state' });
    const blind = new KprobeView(null, log);
    expect(await blind.armed(TCP)).toEqual({ probe: 'tcp_set_state' });
    expect(await blind.changes()).toEqual([]);
    // An unreadable list (debugfs gone meanwhile) is the same: unknown, not an error.
    expect(await new KprobeView(join(dir, 'missing'), log).armed(TCP)).toEqual({ probe: 'tcp_set_state' });
  });

  it('reports a probe the list did not show yet once it does', async () => {
    const view = new KprobeView(dir, log);
    await list('');
    expect(await view.armed(USER)).toEqual({ probe: 'later' });
    await list('ffffffff81c00c3e  k  tcp_set_state+0xe    [OPTIMIZED]\n');
    expect(await view.changes()).toEqual([{ probe: 'later', mechanism: 'optimized', disabled: false, gone: false }]);
  });
});
