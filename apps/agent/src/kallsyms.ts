import { readFile } from 'node:fs/promises';

/**
 * Addresses of text symbols from /proc/kallsyms; null when unreadable or hidden (kptr_restrict
 * prints zeros). Probes are on the core kernel, so module symbols are not needed.
 */
export async function textSymbolAddresses(names: ReadonlySet<string>, path = '/proc/kallsyms'): Promise<Map<string, bigint> | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return null;
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [addr, type, name] = line.split(' ');
    if (name === undefined || !names.has(name) || (type !== 't' && type !== 'T') || out.has(name)) continue;
    const a = BigInt(`0x${addr}`);
    if (a === 0n) return null;
    out.set(name, a);
  }
  return out;
}
