// What the CLI lists: each resource's API path, its filters (flag -> query parameter) and its
// columns. The items are the API's, as /docs describes them.
import type { Column } from './output';
import { formatTime } from './output';

export interface Filter { flag: string; param: string; description: string; choices?: readonly string[] }

export interface Resource<T = Record<string, unknown>> {
  name: string;
  path: string;
  /** The stream endpoint, for resources that have one. */
  stream?: string;
  description: string;
  filters: readonly Filter[];
  columns: readonly Column<T>[];
  /** Whether the endpoint pages (nextCursor); agents is one list. */
  paged: boolean;
}

type Row = Record<string, unknown>;

const str = (k: string) => (r: Row) => r[k] as string | number | boolean | null | undefined;
const time = (k: string) => (r: Row, ctx: { utc: boolean }) => formatTime(r[k] as string | null, ctx.utc);
const json = (k: string) => (r: Row) => (r[k] === undefined || r[k] === null ? '' : JSON.stringify(r[k]));
/** Bytes as whole KiB, as tcplife prints them. */
const kib = (k: string) => (r: Row) => (typeof r[k] === 'number' ? String(Math.floor((r[k] as number) / 1024)) : '');
const ms = (k: string) => (r: Row) => (typeof r[k] === 'number' ? (r[k] as number).toFixed(3) : '');

const STATES = ['TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 'TCP_TIME_WAIT', 'TCP_CLOSE',
  'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_LISTEN', 'TCP_CLOSING', 'TCP_NEW_SYN_RECV'] as const;

const endpointFilters: Filter[] = [
  { flag: 'host', param: 'host', description: 'host name, exactly' },
  { flag: 'port', param: 'port', description: 'local or remote port' },
  { flag: 'saddr', param: 'saddr', description: 'source address or CIDR' },
  { flag: 'daddr', param: 'daddr', description: 'destination address or CIDR' },
  { flag: 'family', param: 'family', description: 'address family', choices: ['AF_INET', 'AF_INET6'] },
  { flag: 'pid', param: 'pid', description: "the socket owner's process id" },
  { flag: 'comm', param: 'comm', description: "the socket owner's command name" },
  { flag: 'container', param: 'container', description: 'container id (a prefix of 12+ hex digits) or systemd unit' },
  { flag: 'namespace', param: 'namespace', description: 'Kubernetes namespace of the owning pod' },
  { flag: 'pod', param: 'pod', description: 'owning pod, by name or uid' },
];

/** The socket owner's columns (tcplife's PID and COMM), for both listings. */
const ownerColumns: Column<Row>[] = [
  { header: 'OWNER', value: str('ownerPid'), wide: true },
  { header: 'OCOMM', value: str('ownerComm'), wide: true },
  { header: 'ATTR', value: str('attribution'), wide: true },
  { header: 'CONTAINER', value: (r) => String((r.container as { id?: string } | null)?.id ?? '').slice(0, 12), wide: true },
  { header: 'POD', value: (r) => (r.podName ? `${String(r.podNamespace ?? '')}/${String(r.podName)}` : String(r.podUid ?? '')), wide: true },
];

const timeFilters = (what: string): Filter[] => [
  { flag: 'from', param: 'from', description: `${what} at or after this RFC 3339 time` },
  { flag: 'to', param: 'to', description: `${what} before this RFC 3339 time` },
];

export const transitionFilters: Filter[] = [
  ...endpointFilters,
  ...timeFilters('transitions'),
  { flag: 'old-state', param: 'oldState', description: 'state left', choices: STATES },
  { flag: 'new-state', param: 'newState', description: 'state entered', choices: STATES },
];

/** tcpstates' columns: TIME HOST PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS. */
export const transitionColumns: Column<Row>[] = [
  { header: 'TIME', value: time('time') },
  { header: 'HOST', value: str('host') },
  { header: 'PID', value: str('pid') },
  { header: 'COMM', value: str('comm') },
  { header: 'LADDR', value: str('saddr') },
  { header: 'LPORT', value: str('sport') },
  { header: 'RADDR', value: str('daddr') },
  { header: 'RPORT', value: str('dport') },
  { header: 'OLDSTATE', value: (r) => String(r.oldState ?? '').replace(/^TCP_/, '') },
  { header: '->', value: () => '->' },
  { header: 'NEWSTATE', value: (r) => String(r.newState ?? '').replace(/^TCP_/, '') },
  { header: 'MS', value: ms('msInOldState') },
  { header: 'ID', value: str('id'), wide: true },
  { header: 'INSTANCE', value: str('instance'), wide: true },
  { header: 'SEQ', value: str('seq'), wide: true },
  { header: 'SKADDR', value: str('skaddr'), wide: true },
  { header: 'FAMILY', value: str('family'), wide: true },
  { header: 'CPU', value: str('cpu'), wide: true },
  { header: 'IRQ', value: str('inIrq'), wide: true },
  ...ownerColumns,
];

export const resources: Record<string, Resource> = {
  transitions: {
    name: 'transitions', path: 'api/v1/transitions', stream: 'api/v1/transitions/stream', paged: true,
    description: 'TCP state transitions (tcpstates), newest first',
    filters: [...transitionFilters, { flag: 'order', param: 'order', description: 'desc (newest first) or asc', choices: ['asc', 'desc'] }],
    columns: transitionColumns,
  },
  connections: {
    name: 'connections', path: 'api/v1/connections', stream: 'api/v1/connections/stream', paged: true,
    description: 'socket lifetimes (tcplife) with the time in each state, newest first',
    filters: [
      ...endpointFilters, ...timeFilters('connections opened'),
      { flag: 'state', param: 'state', description: 'open or closed', choices: ['open', 'closed'] },
      { flag: 'last-state', param: 'lastState', description: 'the state it is in or ended in', choices: STATES },
      { flag: 'order', param: 'order', description: 'desc (newest first) or asc', choices: ['asc', 'desc'] },
    ],
    columns: [
      { header: 'OPENED', value: time('openedAt') },
      { header: 'HOST', value: str('host') },
      { header: 'LADDR', value: str('saddr') },
      { header: 'LPORT', value: str('sport') },
      { header: 'RADDR', value: str('daddr') },
      { header: 'RPORT', value: str('dport') },
      { header: 'STATE', value: (r) => String(r.lastState ?? '').replace(/^TCP_/, '') },
      // tcplife's TX_KB and RX_KB (kprobe mode; blank when not known).
      { header: 'TX_KB', value: kib('txBytes') },
      { header: 'RX_KB', value: kib('rxBytes') },
      { header: 'MS', value: ms('durationMs') },
      { header: 'RETRANS', value: str('retrans'), wide: true },
      { header: 'SRTT_US', value: str('srttUs'), wide: true },
      { header: 'ID', value: str('id'), wide: true },
      { header: 'CLOSED', value: time('closedAt'), wide: true },
      { header: 'INSTANCE', value: str('instance'), wide: true },
      { header: 'SKADDR', value: str('skaddr'), wide: true },
      { header: 'FAMILY', value: str('family'), wide: true },
      { header: 'STATES', value: (r) => ((r.states as { state: string; ms: number | null }[] | undefined) ?? [])
        .map((s) => `${s.state.replace(/^TCP_/, '')}:${s.ms === null ? '' : s.ms.toFixed(3)}`).join(','), wide: true },
      ...ownerColumns,
    ],
  },
  agents: {
    name: 'agents', path: 'api/v1/agents', paged: false,
    description: 'the fleet: one row per host, from its latest agent',
    filters: [{ flag: 'host', param: 'host', description: 'host name, exactly' }],
    columns: [
      { header: 'HOST', value: str('host') },
      { header: 'MODE', value: str('mode') },
      { header: 'KERNEL', value: str('kernelRelease') },
      { header: 'VERSION', value: str('agentVersion') },
      { header: 'LAST_SEEN', value: time('lastSeen') },
      { header: 'EVENTS', value: str('events') },
      { header: 'LOST', value: str('lost') },
      { header: 'BOOT_ID', value: str('bootId'), wide: true },
      { header: 'INSTANCE', value: str('instance'), wide: true },
      { header: 'ARCH', value: str('arch'), wide: true },
      { header: 'STARTED', value: time('startedAt'), wide: true },
      { header: 'STOPPED', value: time('stoppedAt'), wide: true },
      { header: 'HITS', value: str('hits'), wide: true },
      { header: 'MISSED', value: str('missed'), wide: true },
    ],
  },
  gaps: {
    name: 'gaps', path: 'api/v1/gaps', paged: true,
    description: 'missing seq ranges of agent streams, newest first',
    filters: [
      { flag: 'host', param: 'host', description: 'host name, exactly' },
      { flag: 'open', param: 'open', description: 'true: still missing; false: filled since', choices: ['true', 'false'] },
    ],
    columns: [
      { header: 'DETECTED', value: time('detectedAt') },
      { header: 'HOST', value: str('host') },
      { header: 'FROM_SEQ', value: str('fromSeq') },
      { header: 'TO_SEQ', value: str('toSeq') },
      { header: 'MISSING', value: str('missing') },
      { header: 'CLOSED', value: time('closedAt') },
      { header: 'ID', value: str('id'), wide: true },
      { header: 'INSTANCE', value: str('instance'), wide: true },
      { header: 'REMAINING', value: json('remaining'), wide: true },
    ],
  },
  'dead-letters': {
    name: 'dead-letters', path: 'api/v1/dead-letters', paged: true,
    description: 'Kafka messages that could not be stored as events, newest first',
    filters: [],
    columns: [
      { header: 'RECEIVED', value: time('receivedAt') },
      { header: 'KIND', value: str('kind') },
      { header: 'TOPIC', value: str('topic') },
      { header: 'PARTITION', value: str('partition') },
      { header: 'OFFSET', value: str('offset') },
      { header: 'SIZE', value: str('size') },
      { header: 'REASON', value: str('reason') },
      { header: 'ID', value: str('id'), wide: true },
      { header: 'KEY', value: str('key'), wide: true },
      { header: 'PREVIEW', value: str('preview'), wide: true },
    ],
  },
};
