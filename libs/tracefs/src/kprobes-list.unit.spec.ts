import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { findListed, kprobeMechanism, KprobesListError, parseKprobesList } from './kprobes-list';

// Debian 6.12 under qemu, probes at tcp_set_state, +4, +9, +12 and +14 (issue 18, addresses as the
// kernel printed them in full there).
const ISSUE_612 = [
  'ffffffff81c00c34  k  tcp_set_state+0x4    [FTRACE]',
  'ffffffff81c00c34  k  tcp_set_state+0x4    [FTRACE]',
  'ffffffff81c00c3c  k  tcp_set_state+0xc    ',
  'ffffffff81c00c3e  k  tcp_set_state+0xe    [OPTIMIZED]',
  'ffffffff81c00c39  k  tcp_set_state+0x9    ',
].join('\n');

describe('parseKprobesList', () => {
  it('reads the issue lines: ftrace at +4 (twice: an aggregate), int3, optimized', () => {
    const entries = parseKprobesList(ISSUE_612);
    expect(entries.map((e) => [e.address, e.offset, kprobeMechanism(e)])).toEqual([
      ['0xffffffff81c00c34', 4, 'ftrace'],
      ['0xffffffff81c00c34', 4, 'ftrace'],
      ['0xffffffff81c00c3c', 12, 'int3'],
      ['0xffffffff81c00c3e', 14, 'optimized'],
      ['0xffffffff81c00c39', 9, 'int3'],
    ]);
    expect(entries[0]).toEqual({ address: '0xffffffff81c00c34', type: 'k', symbol: 'tcp_set_state', offset: 4, module: null, gone: false, disabled: false, optimized: false, ftrace: true });
  });

  it('reads modules, kretprobes, combined flags and hidden addresses', () => {
    const [mod, ret] = parseKprobesList('ffffffffc0a01234  k  nft_do_chain+0x4  nf_tables [GONE][FTRACE]\n0000000000000000  r  tcp_v4_connect+0x0    [DISABLED]\n');
    expect(mod).toMatchObject({ module: 'nf_tables', gone: true, disabled: false, ftrace: true });
    expect(ret).toMatchObject({ address: null, type: 'r', disabled: true, ftrace: false, optimized: false });
  });

  it("reads what %pS prints where kallsyms has no name for the address", () => {
    const [bare, sized] = parseKprobesList('ffffffffc0a01234  k  0xffffffffc0a01234 \nffffffffc0b00004  k  foo+0x4/0x20 [bar] [DISABLED]\n');
    expect(bare).toMatchObject({ address: '0xffffffffc0a01234', symbol: null, offset: 0, module: null });
    expect(sized).toMatchObject({ symbol: 'foo', offset: 4, module: 'bar', disabled: true });
  });

  it('refuses a line it does not understand, naming it', () => {
    expect(() => parseKprobesList('ffffffff81c00c34  x  tcp_set_state+0x4')).toThrow(KprobesListError);
    expect(() => parseKprobesList('garbage\n')).toThrow(/line 1 not understood: "garbage"/);
  });

  it('finds our probe by address, by symbol+offset, or at +4 when the kernel stepped over an endbr64', () => {
    const entries = parseKprobesList(ISSUE_612);
    expect(findListed(entries, { symbol: 'tcp_set_state', offset: 0, address: '0xffffffff81c00c30' })?.offset).toBe(4);
    expect(findListed(entries, { symbol: 'tcp_set_state', offset: 14 })?.optimized).toBe(true);
    expect(findListed(entries, { symbol: 'tcp_set_state', offset: 9, address: '0xffffffff81c00c39' })?.offset).toBe(9);
    expect(findListed(entries, { symbol: 'tcp_v4_connect', offset: 0 })).toBeUndefined();
  });
});

// Real captures of the kernel lab (test/kernel-lab/kprobe-mechanism.kernel.spec.ts, KERNEL_LAB_FIXTURES=1).
const KERNELS = join(__dirname, '../../../test/fixtures/kernels');
const captures = readdirSync(KERNELS).flatMap((release) => {
  const dir = join(KERNELS, release, 'kprobes');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.list')).map((f) => [release, join(dir, f)] as const) : [];
});

describe('real kprobes/list captures', () => {
  it('has captures of both kernels', () => {
    expect(new Set(captures.map(([release]) => release.split('.').slice(0, 2).join('.')))).toEqual(new Set(['6.1', '6.12']));
  });

  it.each(captures)('%s %s parses, each line once', (_release, file) => {
    const text = readFileSync(file, 'utf8');
    const entries = parseKprobesList(text);
    expect(entries.length).toBe(text.split('\n').filter((l) => l.trim() !== '').length);
    for (const e of entries) expect(e).toMatchObject({ symbol: 'tcp_set_state', type: 'k', module: null, gone: false, address: expect.stringMatching(/^0xffffffff/) });
  });

  it('reads the lab runs as the kernel printed them: ftrace at +0 (6.1) or +4 (6.12), the later probe optimized, then int3 with optimization off, then disabled', () => {
    for (const [release, file] of captures.filter(([, f]) => f.endsWith('b-settled.list'))) {
      const phase = (name: string) => parseKprobesList(readFileSync(file.replace('b-settled.list', name), 'utf8')).map((e) => `${e.offset} ${kprobeMechanism(e)}${e.disabled ? ' disabled' : ''}`).sort();
      const entry = release.startsWith('6.12.') ? 4 : 0;
      const later = Number(readFileSync(file.replace('b-settled.list', 'later.txt'), 'utf8'));
      expect(phase('b-settled.list')).toEqual([`${entry} ftrace`, `${later} optimized`].sort());
      expect(phase('c-noopt.list')).toEqual([`${entry} ftrace`, `${later} int3`].sort());
      expect(phase('d-disabled.list')).toEqual([`${entry} ftrace disabled`, `${later} int3 disabled`].sort());
    }
  });
});
