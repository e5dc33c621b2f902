import { z } from 'zod';

/** TCP states with the kernel's numbers (include/net/tcp_states.h). */
export const TCP_STATES = {
  TCP_ESTABLISHED: 1,
  TCP_SYN_SENT: 2,
  TCP_SYN_RECV: 3,
  TCP_FIN_WAIT1: 4,
  TCP_FIN_WAIT2: 5,
  TCP_TIME_WAIT: 6,
  TCP_CLOSE: 7,
  TCP_CLOSE_WAIT: 8,
  TCP_LAST_ACK: 9,
  TCP_LISTEN: 10,
  TCP_CLOSING: 11,
  TCP_NEW_SYN_RECV: 12,
} as const;

export type TcpStateName = keyof typeof TCP_STATES;

const STATE_NAMES = Object.keys(TCP_STATES) as [TcpStateName, ...TcpStateName[]];
const NAME_BY_NUMBER = new Map<number, TcpStateName>(STATE_NAMES.map((name) => [TCP_STATES[name], name]));

/** The kernel number of a state name. */
export function tcpStateNumber(name: TcpStateName): number {
  return TCP_STATES[name];
}

/** The state name of a kernel number, or undefined when the kernel number is not a TCP state. */
export function tcpStateName(value: number): TcpStateName | undefined {
  return NAME_BY_NUMBER.get(value);
}

export const TcpStateSchema = z.enum(STATE_NAMES);

/** Kernel pointers and other addresses: lowercase hex without leading zeros, so one address has one spelling. */
export const HexAddressSchema = z
  .string()
  .regex(/^0x(?:0|[1-9a-f][0-9a-f]{0,15})$/, 'expected a lowercase hex address like "0xffffffff8206b250"');

const Port = z.number().int().min(0).max(65535);

/**
 * Decoded arguments of a TCP state change, identical whether they come from the `tcp_set_state`
 * kprobe or the `sock:inet_sock_set_state` tracepoint. Addresses are text ("10.0.0.1", "::1"),
 * ports are numbers in host byte order.
 */
export const TcpArgsSchema = z.strictObject({
  skaddr: HexAddressSchema,
  family: z.enum(['AF_INET', 'AF_INET6']),
  saddr: z.string().min(1),
  daddr: z.string().min(1),
  sport: Port,
  dport: Port,
  oldstate: TcpStateSchema,
  newstate: TcpStateSchema,
});

export type TcpArgs = z.infer<typeof TcpArgsSchema>;
