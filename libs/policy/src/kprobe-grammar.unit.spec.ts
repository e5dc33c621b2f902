import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildKprobeLine,
  buildRemoveLine,
  isValidKprobeLine,
  KprobeDefinitionError,
  parseKprobeLine,
  validateKprobeDefinition,
  X86_64_REGISTERS,
  type FetchArg,
  type KprobeDefinition,
} from './kprobe-grammar';

const FIXTURES = join(__dirname, '../../../test/fixtures/traces');

function def(args: FetchArg[], extra: Partial<KprobeDefinition> = {}): KprobeDefinition {
  return { kind: 'p', group: 'tcpcoll', event: 'tss', target: 'tcp_set_state', args, ...extra };
}

function refusal(d: KprobeDefinition): KprobeDefinitionError {
  try {
    buildKprobeLine(d);
  } catch (e) {
    if (e instanceof KprobeDefinitionError) return e;
    throw e;
  }
  throw new Error(`accepted: ${JSON.stringify(d)}`);
}

describe('kprobe_events grammar: lines the kernel-lab README shows real kernels accept', () => {
  it.each([
    'p:tcpcoll/tss_regs tcp_set_state sk=%di newstate=%si:s32',
    'p:tcpcoll/tss_offs tcp_set_state family=+16(%di):u16 oldstate=+18(%di):u8 newstate=%si:s32 sport=+14(%di):u16 dport_be=+12(%di):u16 saddr=+4(%di):x32 daddr=+0(%di):x32 saddr6=+72(%di):x8[16] daddr6=+56(%di):x8[16]',
    'p:tcpcoll/tss_args tcp_set_state sk=$arg1 newstate=$arg2:s32',
    'p:tcpcoll/x_argderef tcp_set_state fam=+16($arg1):u16 st=+18($arg1):u8',
    'p:tcpcoll/x_comm tcp_set_state comm=$comm',
    'p:tcpcoll/x_v6 tcp_set_state v6d=+56(%di):x16[8]',
    'p:tcpcoll/x_bitf tcp_set_state reuse=+19(%di):b4@0/8',
    'r:tcpcoll/tss_ret tcp_set_state ret=$retval',
    'r10:tcpcoll/x_retnoargs tcp_set_state',
    'p:g/e tcp_set_state+4 a=@jiffies:u64 b=@init_net+16:x32 c=$stack0 d=-8(+16(%sp)):s64 e=+0(%r15):string',
    'p:g/e 0xffffffff81000000 a=%orig_ax',
  ])('accepts %s', (line) => {
    expect(isValidKprobeLine(line)).toBe(true);
    expect(buildKprobeLine(parseKprobeLine(line))).toBe(line);
  });

  it('builds the remover line', () => {
    expect(buildRemoveLine('probefleet', 'tcp_state')).toBe('-:probefleet/tcp_state');
    expect(() => buildRemoveLine('probe fleet', 'x')).toThrow(/group/);
  });

  it('parses lines read back from kprobe_events (6.12, incl. BTF-style args and r10:)', () => {
    const lines = readFileSync(join(FIXTURES, 'kprobe_events-6.12.107.txt'), 'utf8').trim().split('\n');
    const defs = lines.map(parseKprobeLine);
    expect(defs.map((d) => `${d.kind}${d.maxActive ?? ''}:${d.group}/${d.event}`)).toEqual([
      'p:tcpcoll/x_argstar', 'p:tcpcoll/x_btfaddr', 'p:tcpcoll/x_comm', 'p:tcpcoll/x_v6',
      'p:tcpcoll/x_argderef', 'p:tcpcoll/x_bitf', 'r10:tcpcoll/x_retnoargs', 'p:kprobes/x_nogroup',
    ]);
    expect(defs[1]?.args[0]).toEqual({ name: 'daddr', fetch: 'sk->__sk_common.skc_daddr', type: 'x32' });
    expect(defs[5]?.args[0]).toEqual({ name: 'reuse', fetch: '+19(%di)', type: 'b4@0/8' });
    // BTF-style arguments parse but do not pass our strict grammar.
    expect(isValidKprobeLine(lines[0] as string)).toBe(false);
    expect(isValidKprobeLine(lines[3] as string)).toBe(true);
  });
});

describe('kprobe_events grammar: hostile or wrong input is refused, naming the field', () => {
  it.each<[string, KprobeDefinition, string]>([
    ['newline in symbol', def([], { target: 'tcp_set_state\np:g/evil do_exit' }), 'target'],
    ['NUL in symbol', def([], { target: 'tcp_set_state\0' }), 'target'],
    ['space in symbol (extra args)', def([], { target: 'tcp_set_state x=%di' }), 'target'],
    ['newline in fetch arg', def([{ name: 'sk', fetch: '%di\np:g/e2 do_exit' }]), 'args[0].fetch'],
    ['space in fetch arg', def([{ name: 'sk', fetch: '%di y=%si' }]), 'args[0].fetch'],
    ['newline in type', def([{ name: 'sk', fetch: '%di', type: 'u8\n-:tcpcoll/other' }]), 'args[0].type'],
    ['space in arg name', def([{ name: 'a b', fetch: '%di' }]), 'args[0].name'],
    ['space in event name', def([], { event: 'tss x' }), 'event'],
    ['slash in group', def([], { group: 'a/b' }), 'group'],
    ['; in event', def([], { event: 'tss;rm' }), 'event'],
    ['name starting with digit', def([{ name: '1sk', fetch: '%di' }]), 'args[0].name'],
    ['second definition in event', def([], { event: 'a\nr:g/b' }), 'event'],
    ['unknown register', def([{ name: 'sk', fetch: '%zz' }]), 'args[0].fetch'],
    ['32-bit register name', def([{ name: 'sk', fetch: '%edi' }]), 'args[0].fetch'],
    ['arm64 register', def([{ name: 'sk', fetch: '%x0' }]), 'args[0].fetch'],
    ['unknown type', def([{ name: 'sk', fetch: '%di', type: 'u128' }]), 'args[0].type'],
    ['string array', def([{ name: 'sk', fetch: '%di', type: 'string[2]' }]), 'args[0].type'],
    ['bitfield too wide', def([{ name: 'sk', fetch: '%di', type: 'b9@0/8' }]), 'args[0].type'],
    ['$retval on entry probe', def([{ name: 'r', fetch: '$retval' }]), 'args[0].fetch'],
    ['$arg0', def([{ name: 'a', fetch: '$arg0' }]), 'args[0].fetch'],
    ['BTF-style arg', def([{ name: 'f', fetch: 'sk->__sk_common.skc_family' }]), 'args[0].fetch'],
    ['unbalanced deref', def([{ name: 'f', fetch: '+16(%di' }]), 'args[0].fetch'],
    ['duplicate arg names', def([{ name: 'a', fetch: '%di' }, { name: 'a', fetch: '%si' }]), 'args[1].name'],
    ['offset on return probe', def([], { kind: 'r', target: 'tcp_set_state+4' }), 'target'],
    ['maxActive on p', def([], { maxActive: 3 }), 'maxActive'],
    ['too many args', def(Array.from({ length: 129 }, (_, i) => ({ name: `a${i}`, fetch: '%di' }))), 'args'],
  ])('%s', (_why, d, field) => {
    const e = refusal(d);
    expect(e.field).toBe(field);
    expect(e.message).toContain(field);
    // The message quotes the value escaped, so an embedded newline cannot forge log lines.
    expect(e.message).not.toContain('\n');
  });

  it('refuses raw lines with trailing newline, double spaces or a second definition', () => {
    const good = 'p:tcpcoll/tss_regs tcp_set_state sk=%di';
    expect(isValidKprobeLine(good)).toBe(true);
    for (const bad of [`${good}\n`, `${good}\np:g/x do_exit`, good.replace(' ', '  '), `${good} `, `${good};`, `${good}\0`]) {
      expect(isValidKprobeLine(bad)).toBe(false);
    }
  });
});

const nameArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
const regArb = fc.constantFrom(...X86_64_REGISTERS).map((r) => `%${r}`);
const baseFetchArb = fc.oneof(
  regArb,
  fc.integer({ min: 1, max: 128 }).map((n) => `$arg${n}`),
  fc.integer({ min: 0, max: 64 }).map((n) => `$stack${n}`),
  fc.constant('$comm'),
  nameArb.map((s) => `@${s}`),
);
const fetchArb = fc
  .tuple(baseFetchArb, fc.array(fc.tuple(fc.constantFrom('+', '-'), fc.nat(4096)), { maxLength: 3 }))
  .map(([base, derefs]) => derefs.reduce((acc, [sign, off]) => `${sign}${off}(${acc})`, base));
const typeArb = fc.option(
  fc.oneof(
    fc.constantFrom('u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'x8', 'x16', 'x32', 'x64', 'string', 'symbol'),
    fc.tuple(fc.constantFrom('u8', 'x16', 's32'), fc.integer({ min: 1, max: 64 })).map(([t, n]) => `${t}[${n}]`),
    fc.integer({ min: 1, max: 8 }).chain((w) => fc.integer({ min: 0, max: 8 - w }).map((o) => `b${w}@${o}/8`)),
  ),
  { nil: undefined },
);
const defArb: fc.Arbitrary<KprobeDefinition> = fc
  .record({
    group: nameArb,
    event: nameArb,
    target: fc.tuple(nameArb, fc.option(fc.nat(4096), { nil: undefined })).map(([s, o]) => (o === undefined ? s : `${s}+${o}`)),
    args: fc.uniqueArray(fc.record({ name: nameArb, fetch: fetchArb, type: typeArb }), {
      maxLength: 8,
      selector: (a) => a.name,
    }),
  })
  .map((r) => ({
    kind: 'p' as const,
    ...r,
    args: r.args.map((a) => (a.type === undefined ? { name: a.name, fetch: a.fetch } : a)),
  }));

describe('kprobe_events grammar: properties', () => {
  it('builder output always validates and round-trips through the line parser', () => {
    fc.assert(
      fc.property(defArb, (d) => {
        const line = buildKprobeLine(d);
        expect(isValidKprobeLine(line)).toBe(true);
        expect(parseKprobeLine(line)).toEqual(d);
      }),
    );
  });

  it('a value containing a newline, space, tab or NUL never validates, in any field', () => {
    const bad = fc
      .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('\n', ' ', '\t', '\0', '\r'), fc.string({ maxLength: 8 }))
      .map(([a, c, b]) => a + c + b);
    fc.assert(
      fc.property(defArb, bad, fc.constantFrom('group', 'event', 'target', 'name', 'fetch', 'type'), (d, v, where) => {
        const arg: FetchArg = { name: 'x', fetch: '%di' };
        const poisoned: KprobeDefinition =
          where === 'group' || where === 'event' || where === 'target'
            ? { ...d, [where]: v }
            : { ...d, args: [{ ...arg, [where]: v }] };
        expect(() => validateKprobeDefinition(poisoned)).toThrow(KprobeDefinitionError);
      }),
    );
  });

  it('random strings with a newline or NUL are never a valid line', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('\n', '\0'), fc.string(), (a, c, b) => {
        expect(isValidKprobeLine(`p:g/e tcp_set_state x=%di${a}${c}${b}`)).toBe(false);
      }),
    );
  });
});
