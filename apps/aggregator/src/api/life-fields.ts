// tcplife's counters on a closed lifetime in the API (issue 15; kprobe mode, from struct tcp_sock at
// TCP_CLOSE): the item fields and the columns they come from (tcp_connections, tcp_lifetimes).
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client';

const counter = (what: string) => z.number().int().nullable().describe(`${what}; null when not known (tracepoint mode, or still open).`);
/** tcplife's counters at TCP_CLOSE (kprobe mode). */
export const lifeItemShape = {
  txBytes: counter('Bytes sent and acknowledged by the peer (tcp_sock bytes_acked)'),
  rxBytes: counter('Bytes received (tcp_sock bytes_received)'),
  retrans: counter('Segments retransmitted (tcp_sock total_retrans)'),
  srttUs: counter('Smoothed round-trip time in µs at close (tcp_sock srtt_us >> 3)'),
};

/** The counters' columns; the bigints as text (JSON numbers: a count of bytes stays below 2^53). */
export const LIFE_SELECT = Prisma.raw('tx_bytes::text, rx_bytes::text, retrans::text, srtt_us');

export interface LifeRow { tx_bytes: string | null; rx_bytes: string | null; retrans: string | null; srtt_us: number | null }

export function lifeItem(r: LifeRow): z.infer<z.ZodObject<typeof lifeItemShape>> {
  const n = (v: string | null) => (v === null ? null : Number(v));
  return { txBytes: n(r.tx_bytes), rxBytes: n(r.rx_bytes), retrans: n(r.retrans), srttUs: r.srtt_us };
}

