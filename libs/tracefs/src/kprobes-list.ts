// debugfs kprobes/list: the kernel's own view of every kprobe (kernel/kprobes.c, report_probe). One
// line per probe, an aggregated kprobe's members each on their own line with the aggregate's flags:
//   ffffffff81c00c34  k  tcp_set_state+0x4    [FTRACE]
//   ffffffffc0a01234  r  nft_do_chain+0x0  nf_tables [DISABLED]
// address (`%px`, zeros when kallsyms hides addresses from the reader), type (k kprobe, r kretprobe),
// symbol+offset (or `%pS` when kallsyms has no symbol), the module or a space, then the flags
// [GONE] [DISABLED] [OPTIMIZED] [FTRACE], concatenated. Pure: the agent reads the file.
import type { Mechanism } from '@probefleet/events';

export interface KprobesListEntry {
  /** Lowercase hex with 0x and without leading zeros, as the event contract spells addresses; null when hidden. */
  address: string | null;
  type: 'k' | 'r';
  /** null when kallsyms had no symbol for the address (the kernel then prints the bare address). */
  symbol: string | null;
  offset: number;
  /** The module the address is in, null for the core kernel. */
  module: string | null;
  gone: boolean;
  disabled: boolean;
  optimized: boolean;
  ftrace: boolean;
}

// symbol+0xoff (kallsyms_lookup), or what %pS prints without one: sym+0xoff/0xsize [mod], or 0xaddr.
const LINE = /^([0-9a-f]{8,16})\s+([kr])\s+(?:(\S+?)\+0x([0-9a-f]+)(?:\/0x[0-9a-f]+)?|0x[0-9a-f]+)\s+(\S*?)\s*((?:\[(?:GONE|DISABLED|OPTIMIZED|FTRACE)\])*)\s*$/;

export class KprobesListError extends Error {
  override name = 'KprobesListError';
}

/** Parses kprobes/list; a line it does not understand is an error naming it (the format is the kernel's ABI). */
export function parseKprobesList(text: string): KprobesListEntry[] {
  const out: KprobesListEntry[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const m = LINE.exec(line);
    if (m === null) throw new KprobesListError(`kprobes/list line ${i + 1} not understood: ${JSON.stringify(line)}`);
    const [, addr, type, symbol, offset, module, flags] = m as unknown as [string, string, 'k' | 'r', string | undefined, string | undefined, string, string];
    const value = BigInt(`0x${addr}`);
    out.push({
      address: value === 0n ? null : `0x${value.toString(16)}`,
      type,
      symbol: symbol ?? null,
      offset: offset === undefined ? 0 : parseInt(offset, 16),
      module: module === '' ? null : module.replace(/^\[(.*)\]$/, '$1'),
      gone: flags.includes('[GONE]'),
      disabled: flags.includes('[DISABLED]'),
      optimized: flags.includes('[OPTIMIZED]'),
      ftrace: flags.includes('[FTRACE]'),
    });
  }
  return out;
}

/** The mechanism an entry's flags say: [FTRACE], [OPTIMIZED], or else an int3. */
export function kprobeMechanism(entry: Pick<KprobesListEntry, 'ftrace' | 'optimized'>): Mechanism {
  return entry.ftrace ? 'ftrace' : entry.optimized ? 'optimized' : 'int3';
}

/** What a probe of ours looks for in the list: where kallsyms put it, and its symbol+offset. */
export interface ListedProbe {
  symbol: string;
  offset: number;
  /** symbol+offset from kallsyms, when readable. */
  address?: string;
}

/**
 * The entry of one of our probes. The kernel may move a probe on +0 past an endbr64 (IBT), so it
 * is matched by address, else symbol+offset, else (for +0) symbol+4; several of our probes at one
 * address (an aggregate) match the same line, whose flags are the aggregate's.
 */
export function findListed(entries: readonly KprobesListEntry[], probe: ListedProbe): KprobesListEntry | undefined {
  const candidates = entries.filter((e) => e.module === null && e.symbol === probe.symbol);
  const at = (offset: number) => candidates.find((e) => e.offset === offset);
  const byAddress = probe.address === undefined ? undefined : entries.find((e) => e.address === probe.address);
  return byAddress ?? at(probe.offset) ?? (probe.offset === 0 ? at(4) : undefined);
}
