import fc from 'fast-check';
import { validateFilterLine } from './filter-grammar';
import { parseKprobeLine } from './kprobe-grammar';
import { checkPolicySpec, decodePolicyMessage, encodePolicyRecord, parsePolicyText, type PolicySpec } from './policy';
import { renderProbeSet } from './probe-set';

const conn = { name: 'conn', symbol: 'tcp_v4_connect', args: [{ name: 'len', fetch: '%dx', type: 's32' }] };

function refusedAt(raw: unknown): string[] {
  const r = checkPolicySpec(raw);
  if (r.ok) throw new Error('policy was accepted');
  return r.issues.map((i) => i.field);
}

function accepted(raw: unknown): PolicySpec {
  const r = checkPolicySpec(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

describe('policy spec', () => {
  it('accepts kprobes, kretprobes, tracepoints, filters and a selector, and renders them', () => {
    const spec = accepted({
      selector: { hosts: ['web-*'], kernels: { min: '6.1', max: '6.12' }, modes: ['kprobe'], labels: { role: 'web' } },
      probes: [conn, { name: 'accepted', kind: 'kretprobe', maxActive: 8, symbol: 'inet_csk_accept', args: [{ name: 'sk', fetch: '$retval', type: 'x64' }] }],
      tracepoints: [{ name: 'sched_exec', tracepoint: 'sched:sched_process_exec' }],
      filter: { ports: [443], probes: { conn: [{ field: 'len', op: '>=', value: 16 }], sched_exec: [{ field: 'pid', op: '>', value: 1 }] } },
    });
    const r = renderProbeSet('kprobe', spec, 'tcp_set_state');
    expect(r.definitions).toEqual(['p:probefleet/conn tcp_v4_connect len=%dx:s32', 'r8:probefleet/accepted inet_csk_accept sk=$retval:x64']);
    expect(Object.fromEntries(r.filters)).toEqual({ tcp_set_state: '(sport == 443 || dport_be == 47873)', conn: 'len >= 16', sched_exec: 'pid > 1' });
  });

  it.each([
    ['a newline in a symbol', { probes: [{ ...conn, symbol: 'tcp_v4_connect\np:evil/x do_exit' }] }, 'probes[0].symbol'],
    ['a second definition in a fetch arg', { probes: [{ ...conn, args: [{ name: 'a', fetch: '%di -:probefleet/tcp_set_state', type: 'u8' }] }] }, 'probes[0].args[0].fetch'],
    ['a bad register', { probes: [{ ...conn, args: [{ name: 'a', fetch: '%eax', type: 'u32' }] }] }, 'probes[0].args[0].fetch'],
    ['a bad type', { probes: [{ ...conn, args: [{ name: 'a', fetch: '%di', type: 'u7' }] }] }, 'probes[0].args[0].type'],
    ['$retval in an entry probe', { probes: [{ ...conn, args: [{ name: 'a', fetch: '$retval', type: 'u32' }] }] }, 'probes[0].args[0].fetch'],
    ['a filter operator smuggled into a value', { probes: [conn], filter: { probes: { conn: [{ field: 'len', op: '==', value: '1 || 1' }] } } }, 'filter.probes.conn[0].value'],
    ['a filter operator smuggled into a field', { probes: [conn], filter: { probes: { conn: [{ field: 'len==1||len', op: '==', value: 1 }] } } }, 'filter.probes.conn[0].field'],
    ['an agent probe name', { probes: [{ ...conn, name: 'tcp_set_state' }] }, 'probes[0].name'],
    ['a tracepoint with a second name', { tracepoints: [{ name: 't', tracepoint: 'sched:sched_switch\nsched:x' }] }, 'tracepoints[0].tracepoint'],
    ['a host glob with a newline', { selector: { hosts: ['web\n*'] }, filter: { ports: [80] } }, 'selector.hosts[0]'],
    ['a label value with a space', { selector: { labels: { role: 'web x' } }, filter: { ports: [80] } }, 'selector.labels.role'],
    ['an empty kernel range', { selector: { kernels: { min: '6.12', max: '6.1' } }, filter: { ports: [80] } }, 'selector.kernels.max'],
    ['an unknown key', { filter: { ports: [80] }, run: 'rm -rf /' }, ''],
    ['nothing to do', { selector: { hosts: ['a'] } }, ''],
  ])('refuses %s, naming the field', (_why, raw, field) => {
    expect(refusedAt(raw)).toContain(field);
  });

  it('reads YAML or JSON, with the name beside the spec', () => {
    const y = parsePolicyText('name: https-only\nselector:\n  modes: [tracepoint]\nfilter:\n  ports: [443]\n');
    expect(y).toEqual({ ok: true, value: { name: 'https-only', spec: { selector: { modes: ['tracepoint'] }, probes: [], tracepoints: [], filter: { ports: [443] } } } });
    expect(parsePolicyText('{"filter": {"ports": [443]}}').ok).toBe(true);
    const bad = parsePolicyText('name: "Bad Name"\nfilter: {ports: [1]}');
    expect(bad.ok ? [] : bad.issues.map((i) => i.field)).toEqual(['name']);
    expect(parsePolicyText('- a\n- b').ok).toBe(false);
  });

  it('round-trips a record through the control topic, and a null value is a delete', () => {
    const record = { name: 'p1', version: 3, spec: accepted({ filter: { ports: [80] } }) };
    expect(decodePolicyMessage(Buffer.from('p1'), encodePolicyRecord(record))).toEqual({ ok: true, value: { name: 'p1', record } });
    expect(decodePolicyMessage(Buffer.from('p1'), null)).toEqual({ ok: true, value: { name: 'p1', record: null } });
    expect(decodePolicyMessage(Buffer.from('p2'), encodePolicyRecord(record)).ok).toBe(false);
    expect(decodePolicyMessage(Buffer.from('p1'), Buffer.from(JSON.stringify({ ...record, spec: { probes: [{ ...conn, symbol: 'a\nb' }] } }))).ok).toBe(false);
  });
});

// Any text in any free-form field: either the policy is refused, or every line it renders is one
// line holding exactly one definition (parsed back to the same), and every filter is one expression.
describe('no value can smuggle a newline, a second definition or a filter operator', () => {
  const anyText = fc.oneof(
    fc.string({ maxLength: 24 }),
    fc.string({ unit: fc.constantFrom(...'%$@+-()[]:=/ \n\t\r;|&!<>_axdi0123456789'.split('')), maxLength: 20 }),
    fc.constantFrom('%di', '$arg1', '+8(%si)', 'x64', 'u16', 'string', 'tcp_v4_connect', 'len'),
  );
  const anyValue = fc.oneof(fc.integer(), fc.string({ maxLength: 12 }), fc.constantFrom('1 || 1', '0x10', '-5', '18446744073709551615', '1\n'));

  it('for probes', () => {
    fc.assert(
      fc.property(anyText, anyText, anyText, anyText, anyText, fc.boolean(), (name, symbol, argName, fetch, type, ret) => {
        const raw = { probes: [{ name, kind: ret ? 'kretprobe' : 'kprobe', symbol, args: [{ name: argName, fetch, type }] }] };
        const r = checkPolicySpec(raw);
        if (!r.ok) return;
        for (const line of renderProbeSet('kprobe', r.value, 'tcp_set_state').definitions) {
          expect(line).not.toMatch(/[\n\r\x00]/);
          const def = parseKprobeLine(line);
          expect(def.event).toBe(name);
          expect(def.target).toBe(symbol);
          expect(def.args).toEqual([{ name: argName, fetch, type }]);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('for filters', () => {
    fc.assert(
      fc.property(anyText, fc.string({ maxLength: 6 }), anyValue, fc.array(fc.oneof(fc.integer({ min: -1, max: 70000 }), anyText), { maxLength: 3 }), (field, op, value, ports) => {
        const raw = { probes: [{ ...conn, args: [{ name: field, fetch: '%dx', type: 's32' }] }], filter: { ports, probes: { conn: [{ field, op, value }] } } };
        const r = checkPolicySpec(raw);
        if (!r.ok) return;
        for (const line of renderProbeSet('tracepoint', r.value, 'inet_sock_set_state').filters.values()) {
          expect(() => validateFilterLine(line)).not.toThrow();
          expect(line).not.toMatch(/[\n\r]/);
        }
        const probeLine = renderProbeSet('kprobe', r.value, 'tcp_set_state').filters.get('conn') as string;
        // One comparison: exactly one operator, between the field and an integer.
        expect(probeLine).toMatch(/^[A-Za-z_][A-Za-z0-9_]* (==|!=|<|<=|>|>=|&) -?[0-9]+$/);
      }),
      { numRuns: 3000 },
    );
  });

  it('for selectors', () => {
    fc.assert(
      fc.property(anyText, anyText, anyText, (host, key, value) => {
        const r = checkPolicySpec({ selector: { hosts: [host], labels: { [key]: value } }, filter: { ports: [80] } });
        if (!r.ok) return;
        for (const t of [host, key, value]) expect(t).toMatch(/^[A-Za-z0-9_.*?-]*$/);
      }),
      { numRuns: 2000 },
    );
  });
});
