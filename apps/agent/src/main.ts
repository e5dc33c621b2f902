#!/usr/bin/env node
// probefleet-agent: wiring only (flags → config, signals → abort, exit codes).
import { Btf, KprobeDefinitionError, Tracefs } from '@probefleet/tracefs';
import { Command, Option } from 'commander';
import { removeLeftovers } from './cleanup';
import { ConfigError, loadConfig, type AgentConfig } from './config';
import { discoverHost, doctorReport, formatDoctor } from './host';
import { createLogger } from './log';
import { chooseMode, TRACEPOINT_NAME } from './mode';
import { planKprobes } from './probes';
import { EXIT_FAILED, EXIT_REFUSED, RefusedError, runAgent } from './run';
import { StdoutSink } from './sink';
import { AGENT_VERSION } from './version';

const log = createLogger();

const modeOption = () => new Option('--mode <mode>', 'auto | kprobe | tracepoint').choices(['auto', 'kprobe', 'tracepoint']);

function config(opts: { config?: string; mode?: string; sink?: string; format?: string }): AgentConfig {
  return loadConfig({ file: opts.config, env: process.env, flags: { mode: opts.mode, sink: opts.sink, format: opts.format } });
}

const out = (text: string) => process.stdout.write(`${text}\n`);

const program = new Command('probefleet-agent').version(AGENT_VERSION).description('probefleet kernel trace agent');

program
  .command('doctor')
  .description('what this host supports and which mode `run` takes')
  .option('--json', 'JSON output')
  .option('--config <file>', 'YAML config')
  .addOption(modeOption())
  .action(async (opts: { json?: boolean; config?: string; mode?: string }) => {
    const cfg = config(opts);
    const report = doctorReport(await discoverHost(cfg.tracefs), cfg.mode);
    out(opts.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
  });

program
  .command('probes')
  .description('probe definitions')
  .command('render')
  .description('the exact lines `run` would write to kprobe_events (writes nothing)')
  .option('--config <file>', 'YAML config')
  .option('--json', 'JSON output')
  .addOption(modeOption())
  .action(async (opts: { json?: boolean; config?: string; mode?: string }) => {
    const cfg = config(opts);
    const report = await discoverHost(cfg.tracefs);
    const choice = chooseMode(report, cfg.mode);
    const lines = choice.mode === 'kprobe' ? planKprobes(Btf.fromFile(report.btf.path), cfg.probes).map((p) => p.line) : [];
    const tracepoint = choice.mode === 'tracepoint' ? TRACEPOINT_NAME : null;
    if (opts.json) {
      out(JSON.stringify({ mode: choice.mode, reason: choice.reason, unusable: choice.unusable, tracepoint, lines }, null, 2));
    } else if (tracepoint) {
      out(`# tracepoint mode (${choice.reason}): no kprobe line is written; run enables ${tracepoint}`);
      if (cfg.probes.length > 0) out('# the configured user probes need kprobe mode (--mode kprobe renders them)');
    } else {
      for (const l of lines) out(l);
    }
  });

program
  .command('run')
  .description('trace TCP state changes (and configured kprobes) to the sink')
  .option('--config <file>', 'YAML config')
  .addOption(new Option('--sink <sink>', 'stdout (kafka: later)').choices(['stdout', 'kafka']))
  .addOption(new Option('--format <format>', 'json (NDJSON) | text (tcpstates-like)').choices(['json', 'text']))
  .option('--duration <seconds>', 'stop after this many seconds', (v) => {
    const n = Number(v);
    if (!(n > 0)) throw new RefusedError(`--duration: expected a positive number of seconds, got ${v}`);
    return n;
  })
  .addOption(modeOption())
  .action(async (opts: { config?: string; sink?: string; format?: string; mode?: string; duration?: number }) => {
    const cfg = config(opts);
    if (cfg.sink !== 'stdout') throw new RefusedError(`sink: "${cfg.sink}" is not implemented yet (use --sink stdout)`);
    const stop = new AbortController();
    let reason = 'completed';
    const stopWith = (r: string) => {
      if (stop.signal.aborted) return;
      reason = r;
      stop.abort();
    };
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stopWith(`signal ${sig}`));
    const timer = opts.duration !== undefined ? setTimeout(() => stopWith('duration elapsed'), opts.duration * 1000) : null;
    try {
      process.exitCode = await runAgent({ config: cfg, sink: new StdoutSink(cfg.format), log, signal: stop.signal, stopReason: () => reason });
    } finally {
      if (timer) clearTimeout(timer);
    }
  });

program
  .command('cleanup')
  .description("remove what a crashed agent left: our group's kprobes and instances/probefleet-*")
  .option('--config <file>', 'YAML config')
  .action(async (opts: { config?: string }) => {
    const cfg = config(opts);
    const report = await discoverHost(cfg.tracefs);
    if (!report.tracefs) throw new RefusedError('tracefs is not mounted');
    const removed = await removeLeftovers(new Tracefs(report.tracefs));
    log.info({ removed }, 'cleanup done');
    out(JSON.stringify(removed));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const refused = e instanceof ConfigError || e instanceof RefusedError || e instanceof KprobeDefinitionError;
  log.error({ err: refused ? undefined : e }, (e as Error).message);
  process.exitCode = refused ? EXIT_REFUSED : EXIT_FAILED;
});
