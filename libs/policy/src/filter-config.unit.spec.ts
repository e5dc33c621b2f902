import { z } from 'zod';
import { eventFilters, FilterConfigSchema } from './filter-config';
import { formatIssues, formatPath } from './policy';
import { ProbeConfigSchema } from './probe-config';
import { checkProbeSet } from './probe-set';

// The shape the agent's config gives a probe set (its probes and filter sections).
const SetSchema = z.strictObject({ probes: z.array(ProbeConfigSchema).default([]), filter: FilterConfigSchema.optional() }).superRefine((s, ctx) => checkProbeSet(s, ctx));
const parseConfig = (raw: unknown) => SetSchema.parse(raw);

function refusal(raw: unknown): string {
  const r = SetSchema.safeParse(raw);
  if (r.success) throw new Error('config was accepted');
  return formatIssues(r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message })));
}

const conn = { name: 'conn', symbol: 'tcp_v4_connect', args: [{ name: 'len', fetch: '%dx', type: 's32' }] };

describe('filter config', () => {
  it('renders ports, states and families for each TCP source, and user probe comparisons', () => {
    const cfg = parseConfig({ probes: [conn], filter: { ports: [443], states: ['TCP_CLOSE'], families: ['AF_INET6'], probes: { conn: [{ field: 'len', op: '>=', value: 16 }] } } });
    expect([...eventFilters('tracepoint', cfg.filter, 'inet_sock_set_state', [])]).toEqual([
      ['inet_sock_set_state', '(sport == 443 || dport == 443) && (oldstate == 7 || newstate == 7) && family == 10'],
    ]);
    // The kprobe reads dport in network order: 443 = 0x01bb → 0xbb01.
    expect(eventFilters('kprobe', cfg.filter, 'tcp_set_state', ['conn'])).toEqual(
      new Map([
        ['tcp_set_state', '(sport == 443 || dport_be == 47873) && (oldstate == 7 || newstate == 7) && family == 10'],
        ['conn', 'len >= 16'],
      ]),
    );
    expect(eventFilters('tracepoint', parseConfig({}).filter, 'inet_sock_set_state', []).size).toBe(0);
  });

  it.each([
    ['a port carrying an expression', { ports: ['80 || 1'] }, 'filter.ports[0]'],
    ['a port out of range', { ports: [70000] }, 'filter.ports[0]'],
    ['an unknown state', { states: ['TCP_ESTABLISHED\n'] }, 'filter.states[0]'],
    ['a value with a newline and a second expression', { probes: { conn: [{ field: 'len', op: '==', value: '16\n||1' }] } }, 'filter.probes.conn[0].value'],
    ['an operator that is not one', { probes: { conn: [{ field: 'len', op: '== 1 ||', value: 1 }] } }, 'filter.probes.conn[0].op'],
    ['a field with an operator', { probes: { conn: [{ field: 'len||1', op: '==', value: 1 }] } }, 'filter.probes.conn[0].field'],
    ['a field that is not an arg', { probes: { conn: [{ field: 'common_pid', op: '==', value: 1 }] } }, 'filter.probes.conn[0].field'],
    ['a probe that is not configured', { probes: { other: [{ field: 'x', op: '==', value: 1 }] } }, 'filter.probes.other'],
    ['an unknown key', { comm: 'curl' }, 'filter: '],
  ])('refuses %s, naming the field', (_what, filter, field) => {
    expect(refusal({ probes: [conn], filter })).toContain(`${field}`);
  });
});
