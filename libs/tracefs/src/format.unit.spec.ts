import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatParseError, parseEventFormat, parseHeaderPage } from './format';

const RAW = join(__dirname, '../../../test/fixtures/tracefs-raw');
const KERNELS = join(__dirname, '../../../test/fixtures/kernels');
const read = (...p: string[]) => readFileSync(join(...p), 'utf8');

describe('parseEventFormat', () => {
  it('parses the 6.18 sock:inet_sock_set_state format', () => {
    const f = parseEventFormat(read(RAW, 'inet_sock_set_state.format'));
    expect(f.name).toBe('inet_sock_set_state');
    expect(f.id).toBe(2287);
    expect(f.commonFields.map((x) => [x.name, x.offset, x.size, x.signed])).toEqual([
      ['common_type', 0, 2, false], ['common_flags', 2, 1, false], ['common_preempt_count', 3, 1, false], ['common_pid', 4, 4, true],
    ]);
    expect(f.fields.map((x) => x.name)).toEqual([
      'skaddr', 'oldstate', 'newstate', 'sport', 'dport', 'family', 'protocol', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6',
    ]);
    const by = new Map(f.fields.map((x) => [x.name, x]));
    expect(by.get('skaddr')).toMatchObject({ type: 'const void *', kind: 'pointer', offset: 8, size: 8, arrayLength: null });
    expect(by.get('oldstate')).toMatchObject({ type: 'int', kind: 'int', offset: 16, size: 4, signed: true });
    expect(by.get('sport')).toMatchObject({ type: '__u16', kind: 'int', offset: 24, size: 2, signed: false });
    expect(by.get('saddr')).toMatchObject({ type: '__u8', kind: 'array', offset: 32, size: 4, arrayLength: 4, elementSize: 1 });
    expect(by.get('daddr_v6')).toMatchObject({ kind: 'array', offset: 56, size: 16, arrayLength: 16 });
    expect(f.printFmt.startsWith('"family=%s protocol=%s sport=%hu')).toBe(true);
    expect(f.printFmt.endsWith('{ 12, "TCP_NEW_SYN_RECV" })')).toBe(true);
  });

  it('parses __data_loc strings (sched_process_exec filename)', () => {
    const f = parseEventFormat(read(RAW, 'sched_process_exec.format'));
    expect(f.fields[0]).toMatchObject({ name: 'filename', type: '__data_loc char[]', kind: 'dynamic', offset: 8, size: 4, relative: false });
    expect(f.fields[1]).toMatchObject({ name: 'pid', type: 'pid_t', kind: 'int', signed: true });
  });

  it('parses a real kprobe format (Debian 6.12): __probe_ip, fetch types, u8 arrays without a length', () => {
    const f = parseEventFormat(read(KERNELS, '6.12.117+deb12-amd64', 'formats', 'tcp_set_state'));
    expect(f).toMatchObject({ name: 'tcp_set_state', id: 1529 });
    const by = new Map(f.fields.map((x) => [x.name, x]));
    expect(by.get('__probe_ip')).toMatchObject({ type: 'unsigned long', kind: 'int', size: 8 });
    expect(by.get('sk')).toMatchObject({ type: 'u64', kind: 'int', offset: 16, size: 8 });
    expect(by.get('newstate')).toMatchObject({ type: 's32', signed: true, size: 4 });
    // Unaligned offsets are normal in kprobe records.
    expect(by.get('sport')).toMatchObject({ offset: 31, size: 2 });
    expect(by.get('saddr6')).toMatchObject({ type: 'u8', kind: 'array', offset: 43, size: 16, arrayLength: 16 });
  });

  it('tells char strings from byte arrays, and handles __rel_loc', () => {
    const f = parseEventFormat(
      [
        'name: synth', 'ID: 7', 'format:',
        '\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;',
        '\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;',
        '\tfield:unsigned char mac[6];\toffset:24;\tsize:6;\tsigned:0;',
        '\tfield:__rel_loc u8[] buf;\toffset:32;\tsize:4;\tsigned:0;',
        '\tfield:u32 words[2];\toffset:36;\tsize:8;\tsigned:0;',
        '', 'print fmt: "x"',
      ].join('\n'),
    );
    expect(f.fields.map((x) => [x.name, x.kind, x.arrayLength, x.elementSize, x.relative])).toEqual([
      ['comm', 'string', 16, 1, false],
      ['mac', 'array', 6, 1, false],
      ['buf', 'dynamic', null, 1, true],
      ['words', 'array', 2, 4, false],
    ]);
  });

  it('rejects what it cannot decode', () => {
    const head = 'name: x\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n';
    expect(() => parseEventFormat('name: x\nformat:\n')).toThrow(FormatParseError);
    expect(() => parseEventFormat('name: x\nID: 1\nformat:\n')).toThrow(/common_type/);
    expect(() => parseEventFormat(`${head}\tfield:u32 a[3];\toffset:8;\tsize:8;\tsigned:0;\n`)).toThrow(/size 8/);
    expect(() => parseEventFormat(`${head}\tfield:struct foo bar;\toffset:8;\tsize:24;\tsigned:0;\n`)).toThrow(/element size 24/);
    expect(() => parseEventFormat(`${head}\tfield:u32 a;\toffset:x;\n`)).toThrow(/bad field line/);
  });
});

describe('parseHeaderPage', () => {
  it('parses the 6.18 header_page', () => {
    expect(parseHeaderPage(read(RAW, 'header_page'))).toEqual({
      timestampOffset: 0, timestampSize: 8, commitOffset: 8, commitSize: 8, dataOffset: 16, dataSize: 4080,
    });
  });

  it('needs timestamp, commit and data', () => {
    expect(() => parseHeaderPage('\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n')).toThrow(/commit/);
  });
});
