// Writing probes and running our own tracing instance (instances/probefleet-<id>), so other
// tracing on the host is not disturbed.
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { buildKprobeLine, buildRemoveLine, parseKprobeLine, validateFilterLine, type KprobeDefinition } from '@probefleet/policy';

export const INSTANCE_PREFIX = 'probefleet-';
const ID_RE = /^[A-Za-z0-9_-]{1,48}$/;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ErrorLogEntry {
  /** `[    3.316452]` without brackets. */
  timestamp: string;
  /** e.g. `trace_kprobe`. */
  subsystem: string;
  /** The kernel's reason, e.g. `Invalid fetch argument`. */
  message: string;
  command: string;
  /** Column of `^` inside `command`, or null. */
  position: number | null;
}

const COMMAND_PREFIX = '  Command: ';

/** Parses `error_log`: `[ts] subsys: error: msg` / `  Command: cmd` / caret line. */
export function parseErrorLog(text: string): ErrorLogEntry[] {
  const out: ErrorLogEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\[\s*([0-9.]+)\]\s+([^:]+): error: (.*)$/.exec(lines[i] ?? '');
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    const entry: ErrorLogEntry = { timestamp: m[1], subsystem: m[2], message: m[3], command: '', position: null };
    const cmd = lines[i + 1];
    if (cmd?.startsWith(COMMAND_PREFIX)) {
      entry.command = cmd.slice(COMMAND_PREFIX.length);
      i++;
      const caret = lines[i + 1];
      if (caret !== undefined && /^ *\^$/.test(caret)) {
        entry.position = caret.length - 1 - COMMAND_PREFIX.length;
        i++;
      }
    }
    out.push(entry);
  }
  return out;
}

/**
 * A refused filter as the kernel shows it in the event's `filter` file (6.x kernels put filter
 * parse errors there, not in error_log): the line, a caret line, `parse_error: reason`.
 */
export function parseFilterError(text: string): ErrorLogEntry | null {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith('parse_error: '));
  if (i < 0) return null;
  const caret = lines[i - 1];
  const position = caret !== undefined && /^ *\^$/.test(caret) ? caret.length - 1 : null;
  return { timestamp: '', subsystem: 'event_filter', message: (lines[i] as string).slice('parse_error: '.length), command: lines[i - 2] ?? '', position };
}

export interface KprobeProfileEntry {
  event: string;
  hits: number;
  misses: number;
}

/**
 * Parses `saved_cmdlines` (`PID COMM` per line; COMM may contain spaces): the pid → comm map the
 * kernel's own text output resolves task names from.
 */
export function parseSavedCmdlines(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) out.set(Number(line.slice(0, sp)), line.slice(sp + 1));
  }
  return out;
}

/** Parses `kprobe_profile`: `  EVENT   HITS   MISSES` per line. */
export function parseKprobeProfile(text: string): KprobeProfileEntry[] {
  const out: KprobeProfileEntry[] = [];
  for (const line of text.split('\n')) {
    const [event, hits, misses] = line.trim().split(/\s+/);
    if (event && hits !== undefined && misses !== undefined) out.push({ event, hits: Number(hits), misses: Number(misses) });
  }
  return out;
}

export interface CpuBufferStats {
  cpu: number;
  entries: number;
  overrun: number;
  commitOverrun: number;
  bytes: number;
  oldestEventTs: string;
  nowTs: string;
  droppedEvents: number;
  readEvents: number;
}

/** Parses `per_cpu/cpuN/stats`. */
export function parseCpuStats(cpu: number, text: string): CpuBufferStats {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const c = line.indexOf(':');
    if (c > 0) kv.set(line.slice(0, c).trim(), line.slice(c + 1).trim());
  }
  const n = (k: string) => Number(kv.get(k) ?? 0);
  return {
    cpu,
    entries: n('entries'),
    overrun: n('overrun'),
    commitOverrun: n('commit overrun'),
    bytes: n('bytes'),
    oldestEventTs: kv.get('oldest event ts') ?? '',
    nowTs: kv.get('now ts') ?? '',
    droppedEvents: n('dropped events'),
    readEvents: n('read events'),
  };
}

/** A failed write to a tracefs control file, with the kernel's own explanation when it gave one. */
export class TracefsWriteError extends Error {
  constructor(
    readonly file: string,
    readonly line: string,
    readonly code: string | undefined,
    readonly kernel: ErrorLogEntry | null,
  ) {
    const why = kernel
      ? `${kernel.message}\n  Command: ${kernel.command}${kernel.position !== null ? `\n  ${' '.repeat(9 + kernel.position)}^` : ''}`
      : 'no error_log entry';
    super(`writing ${JSON.stringify(line)} to ${file} failed (${code ?? 'unknown error'}): ${why}`);
    this.name = 'TracefsWriteError';
  }
}

/** The errno code (`EAGAIN`, ...) of a failed fs call. */
export function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Top-level tracefs operations (kprobe_events, error_log, kprobe_profile, instances). */
export class Tracefs {
  constructor(readonly dir: string) {}

  async readErrorLog(): Promise<ErrorLogEntry[]> {
    return parseErrorLog(await readFile(join(this.dir, 'error_log'), 'utf8'));
  }

  /** Opening error_log with O_TRUNC clears it. */
  async clearErrorLog(): Promise<void> {
    await writeFile(join(this.dir, 'error_log'), '');
  }

  /**
   * Appends one line to a control file: O_APPEND without O_TRUNC (truncating kprobe_events
   * would remove every probe on the host), one write per line.
   */
  private async appendLine(file: string, line: string): Promise<void> {
    const path = join(this.dir, file);
    let fh;
    try {
      fh = await open(path, constants.O_WRONLY | constants.O_APPEND);
      await fh.write(`${line}\n`);
    } catch (e) {
      const log = await this.readErrorLog().catch(() => []);
      const kernel = [...log].reverse().find((x) => x.command === line) ?? null;
      throw new TracefsWriteError(file, line, errnoCode(e), kernel);
    } finally {
      await fh?.close();
    }
  }

  /** Validates and registers a probe; returns the line written. */
  async addKprobe(def: KprobeDefinition): Promise<string> {
    const line = buildKprobeLine(def);
    await this.appendLine('kprobe_events', line);
    return line;
  }

  async removeKprobe(group: string, event: string): Promise<void> {
    await this.appendLine('kprobe_events', buildRemoveLine(group, event));
  }

  async listKprobes(): Promise<KprobeDefinition[]> {
    const text = await readFile(join(this.dir, 'kprobe_events'), 'utf8');
    return text.split('\n').filter((l) => l.trim() !== '').map(parseKprobeLine);
  }

  async readKprobeProfile(): Promise<KprobeProfileEntry[]> {
    return parseKprobeProfile(await readFile(join(this.dir, 'kprobe_profile'), 'utf8'));
  }

  /** Task names the kernel recorded at context switches after a traced event (global, all instances). */
  async readSavedCmdlines(): Promise<Map<number, string>> {
    return parseSavedCmdlines(await readFile(join(this.dir, 'saved_cmdlines'), 'utf8'));
  }

  instance(id: string): TracingInstance {
    if (!ID_RE.test(id)) throw new RangeError(`bad instance id ${JSON.stringify(id)}`);
    return new TracingInstance(this, `${INSTANCE_PREFIX}${id}`);
  }

  /** Creates instances/probefleet-<id> (fails if it exists: another run owns it). */
  async createInstance(id: string): Promise<TracingInstance> {
    const inst = this.instance(id);
    await mkdir(inst.dir);
    return inst;
  }

  /** What a crashed run may have left: our group's probes and probefleet-* instances. */
  async listLeftovers(group: string): Promise<{ kprobes: KprobeDefinition[]; instances: string[] }> {
    const kprobes = (await readFile(join(this.dir, 'kprobe_events'), 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(parseKprobeLine)
      .filter((d) => d.group === group);
    const names = await readdir(join(this.dir, 'instances')).catch(() => [] as string[]);
    return { kprobes, instances: names.filter((n) => n.startsWith(INSTANCE_PREFIX)).sort() };
  }
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** Sleep between empty reads; trace_pipe is read non-blocking so close is immediate. */
  pollMs?: number;
  bufferBytes?: number;
}

export class TracingInstance {
  readonly dir: string;

  constructor(
    readonly tracefs: Tracefs,
    readonly name: string,
  ) {
    this.dir = join(tracefs.dir, 'instances', name);
  }

  private async write(file: string, value: string): Promise<void> {
    try {
      await writeFile(join(this.dir, file), value);
    } catch (e) {
      throw new TracefsWriteError(`instances/${this.name}/${file}`, value, errnoCode(e), null);
    }
  }

  /** Available clocks and the current one (`[local] global ...`). */
  async clocks(): Promise<{ current: string; available: string[] }> {
    const text = (await readFile(join(this.dir, 'trace_clock'), 'utf8')).trim();
    const available = text.split(/\s+/).map((c) => c.replace(/^\[|\]$/g, ''));
    const current = /\[([^\]]+)\]/.exec(text)?.[1] ?? '';
    return { current, available };
  }

  async setClock(clock: string): Promise<void> {
    if (!/^[A-Za-z0-9_-]+$/.test(clock)) throw new RangeError(`bad clock name ${JSON.stringify(clock)}`);
    await this.write('trace_clock', clock);
  }

  /** Per-cpu ring buffer size of this instance. */
  async setBufferSizeKb(kb: number): Promise<void> {
    if (!Number.isInteger(kb) || kb < 1) throw new RangeError(`bad buffer size ${kb} KiB`);
    await this.write('buffer_size_kb', String(kb));
  }

  private eventFile(group: string, event: string): string {
    if (!NAME_RE.test(group) || !NAME_RE.test(event)) throw new RangeError(`bad event ${JSON.stringify(`${group}/${event}`)}`);
    return join('events', group, event, 'enable');
  }

  /**
   * Writes an event's filter in this instance ('' clears it). The line is checked by the filter
   * grammar first; when the kernel refuses it, the error carries error_log's message (the kernel
   * logs filter errors there since 5.x; older ones only print them in the filter file).
   */
  async setEventFilter(group: string, event: string, line: string): Promise<void> {
    validateFilterLine(line);
    const file = join(dirname(this.eventFile(group, event)), 'filter');
    try {
      await writeFile(join(this.dir, file), line === '' ? '0' : line);
    } catch (e) {
      const log = await this.tracefs.readErrorLog().catch(() => []);
      const logged = [...log].reverse().find((x) => x.command === line);
      const shown = logged ? null : await readFile(join(this.dir, file), 'utf8').catch(() => '');
      throw new TracefsWriteError(`instances/${this.name}/${file}`, line, errnoCode(e), logged ?? (shown ? parseFilterError(shown) : null));
    }
  }

  /** The filter file as the kernel shows it (`none` when unset). */
  async readEventFilter(group: string, event: string): Promise<string> {
    return (await readFile(join(this.dir, dirname(this.eventFile(group, event)), 'filter'), 'utf8')).trim();
  }

  async enableEvent(group: string, event: string): Promise<void> {
    await this.write(this.eventFile(group, event), '1');
  }

  async disableEvent(group: string, event: string): Promise<void> {
    await this.write(this.eventFile(group, event), '0');
  }

  /** Whether the event is enabled here (false when the event does not exist). */
  async isEventEnabled(group: string, event: string): Promise<boolean> {
    const text = await readFile(join(this.dir, this.eventFile(group, event)), 'utf8').catch(() => '0');
    return text.startsWith('1');
  }

  async readTrace(): Promise<string> {
    return readFile(join(this.dir, 'trace'), 'utf8');
  }

  /** Empties the ring buffer (O_TRUNC on `trace`). */
  async clearTrace(): Promise<void> {
    await writeFile(join(this.dir, 'trace'), '');
  }

  async cpuStats(): Promise<CpuBufferStats[]> {
    const cpus = (await readdir(join(this.dir, 'per_cpu')))
      .filter((d) => /^cpu[0-9]+$/.test(d))
      .map((d) => Number(d.slice(3)))
      .sort((a, b) => a - b);
    return Promise.all(
      cpus.map(async (c) => parseCpuStats(c, await readFile(join(this.dir, 'per_cpu', `cpu${c}`, 'stats'), 'utf8'))),
    );
  }

  /**
   * Lines from trace_pipe as they arrive (consuming reads), in batches. The fd is opened
   * O_NONBLOCK: a blocking read would pin a libuv thread until the next event and could not be
   * cancelled. Ends when `signal` aborts or the consumer stops iterating.
   */
  async *batches(opts: StreamOptions = {}): AsyncGenerator<string[], void, undefined> {
    const pollMs = opts.pollMs ?? 50;
    const fh = await open(join(this.dir, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = Buffer.allocUnsafe(opts.bufferBytes ?? 1 << 16);
    const decoder = new StringDecoder('utf8');
    let partial = '';
    try {
      while (!opts.signal?.aborted) {
        let n: number;
        try {
          n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
        } catch (e) {
          if (errnoCode(e) !== 'EAGAIN') throw e;
          n = -1;
        }
        if (n <= 0) {
          await sleep(pollMs, opts.signal);
          continue;
        }
        const text = partial + decoder.write(buf.subarray(0, n));
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        if (lines.length > 0) yield lines;
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * Reads what is left in trace_pipe without waiting (after the events are disabled, so a stop
   * loses nothing that was already recorded). Call it only when no batches() reader is running.
   */
  async drain(bufferBytes = 1 << 16): Promise<string[]> {
    const fh = await open(join(this.dir, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = Buffer.allocUnsafe(bufferBytes);
    let text = '';
    try {
      for (;;) {
        let n: number;
        try {
          n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
        } catch (e) {
          if (errnoCode(e) !== 'EAGAIN') throw e;
          break;
        }
        if (n <= 0) break;
        text += buf.toString('utf8', 0, n);
      }
    } finally {
      await fh.close();
    }
    return text.split('\n').filter((l) => l !== '');
  }

  /** One line at a time; see batches(). */
  async *lines(opts: StreamOptions = {}): AsyncGenerator<string, void, undefined> {
    for await (const batch of this.batches(opts)) yield* batch;
  }

  /** Disables every event in the instance and removes its directory. */
  async remove(): Promise<void> {
    await writeFile(join(this.dir, 'events', 'enable'), '0').catch(() => undefined);
    await rmdir(this.dir);
  }
}

/** Resolves after `ms` or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
