/** Field names of the tcp_set_state probe (also match the kernel-lab `tss_offs` probe); filters name them. */
export const TCP_PROBE_FIELDS = {
  sk: 'sk', newstate: 'newstate', oldstate: 'oldstate', family: 'family', sport: 'sport',
  dportBe: 'dport_be', saddr: 'saddr', daddr: 'daddr', saddr6: 'saddr6', daddr6: 'daddr6',
  // tcp_sock: tcplife's columns (srtt_us is the kernel's, µs << 3).
  txBytes: 'bytes_acked', rxBytes: 'bytes_received', retrans: 'total_retrans', srtt8: 'srtt_us',
} as const;
