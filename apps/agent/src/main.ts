#!/usr/bin/env node
// probefleet-agent: wiring only (flags → config, signals → abort, exit codes).
import { Btf, KprobeDefinitionError, Tracefs } from '@probefleet/tracefs';
import { Command, Option } from 'commander';
import { findLeftovers, removeLeftovers } from './cleanup';
import { ConfigError, identityKeyFile, loadConfig, type AgentConfig } from './config';
import { discoverHost, doctorReport, formatDoctor } from './host';
import { createLogger } from './log';
import { chooseMode } from './mode';
import { planProbes, ProbePlanError, TCP_TRACEPOINT } from './probes';
import { EXIT_FAILED, EXIT_REFUSED, RefusedError, runAgent } from './run';
import { kafkaClient } from './kafka/client';
import { KafkaSink } from './kafka/sink';
import type { Logger } from './log';
import { AgentMetrics, serveMetrics } from './metrics';
import { StdoutSink, type Sink } from './sink';
import { Spool } from '@probefleet/publish';
import { loadOrCreateSigner, loadPolicyVerifier, type PolicyRefusal, type PolicyVerifier } from '@probefleet/signature';
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
    const probes = planProbes(choice.mode, choice.mode === 'kprobe' ? Btf.fromFile(report.btf.path) : null, choice.mode === 'kprobe' ? cfg : { ...cfg, probes: [] });
    const lines = probes.flatMap((p) => (p.definition === null ? [] : [p.definition]));
    const tracepoint = probes.find((p) => p.kind === 'tracepoint');
    // What run writes to each event's filter file in its own instance (instances/probefleet-<id>/).
    const filters = probes.filter((p) => p.filter !== '').map((p) => ({ file: `events/${p.group}/${p.event}/filter`, filter: p.filter }));
    if (opts.json) {
      out(JSON.stringify({ mode: choice.mode, reason: choice.reason, unusable: choice.unusable, tracepoint: tracepoint ? TCP_TRACEPOINT.name : null, lines, filters }, null, 2));
      return;
    }
    if (tracepoint) {
      out(`# tracepoint mode (${choice.reason}): no kprobe line is written; run enables ${TCP_TRACEPOINT.name}`);
      if (cfg.probes.length > 0) out('# the configured user probes need kprobe mode (--mode kprobe renders them)');
    }
    for (const l of lines) out(l);
    for (const f of filters) out(`# ${f.file}: ${f.filter}`);
  });

program
  .command('run')
  .description('trace TCP state changes (and configured kprobes) to the sink')
  .option('--config <file>', 'YAML config')
  .addOption(new Option('--sink <sink>', 'kafka (default) | stdout').choices(['stdout', 'kafka']))
  .addOption(new Option('--format <format>', 'json (NDJSON) | text (tcpstates-like)').choices(['json', 'text']))
  .option('--duration <seconds>', 'stop after this many seconds', (v) => {
    const n = Number(v);
    if (!(n > 0)) throw new RefusedError(`--duration: expected a positive number of seconds, got ${v}`);
    return n;
  })
  .addOption(modeOption())
  .action(async (opts: { config?: string; sink?: string; format?: string; mode?: string; duration?: number }) => {
    const cfg = config(opts);
    const metrics = new AgentMetrics();
    const sink = cfg.sink === 'kafka' ? kafkaSink(cfg, metrics, log) : new StdoutSink(cfg.format);
    const server = await serveMetrics(metrics, cfg.metrics.host, cfg.metrics.port).catch((e: unknown) => {
      throw new RefusedError(`metrics: cannot listen on ${cfg.metrics.host}:${cfg.metrics.port}: ${(e as Error).message}`);
    });
    if (server.address) log.info({ address: server.address }, 'serving /metrics and /healthz');
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
      process.exitCode = await runAgent({
        config: cfg,
        sink,
        log,
        signal: stop.signal,
        stopReason: () => reason,
        counters: () => metrics.snapshot(),
        observe: (type, data) => metrics.observe(type, data),
        ownership: (c) => metrics.ownership(c),
        dropped: () => metrics.add('eventsDropped'),
        // Without Kafka (the stdout sink) only the set last cached in the spool directory applies.
        ...(cfg.policies.enabled
          ? {
            policies: {
              kafka: cfg.sink === 'kafka' && cfg.kafka ? kafkaClient(cfg.kafka, log) : null, topic: cfg.policies.topic, cacheDir: cfg.spool.dir,
              verifier: policyVerifier(cfg), refused: (r: PolicyRefusal) => metrics.policyRefused(r),
            },
          }
          : {}),
      });
    } catch (e) {
      // Refused before the run's own teardown: the sink (re-sending a spool) must still stop.
      await sink.close();
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      await server.close();
    }
    // The run is over and its sink closed. A policy consumer that could not leave its group (the
    // broker away) keeps retrying in the client and would keep the process alive: end it here.
    if (cfg.policies.enabled && cfg.sink === 'kafka') process.exit();
  });

/** Opens the spool (repairing a corrupt tail: reported, never fatal) and the Kafka sink on it. */
function kafkaSink(cfg: AgentConfig, metrics: AgentMetrics, log: Logger): Sink {
  const kafka = cfg.kafka;
  if (!kafka) throw new ConfigError('kafka.brokers: required when sink is kafka (YAML kafka.brokers or PROBEFLEET_KAFKA_BROKERS; or --sink stdout)');
  let spool: Spool;
  try {
    spool = Spool.open(cfg.spool);
  } catch (e) {
    throw new RefusedError(`spool: cannot open ${cfg.spool.dir}: ${(e as Error).message}`);
  }
  for (const t of spool.repaired.corruptTails) {
    metrics.add('spoolCorruptTails');
    metrics.add('spoolCorruptBytes', t.droppedBytes);
    log.warn(t, 'spool: corrupt tail cut off (its events are lost; the aggregator sees the seq gap)');
  }
  if (spool.repaired.ackCursorLost) log.warn({ dir: cfg.spool.dir }, 'spool: ack cursor unreadable: re-sending everything spooled (duplicates possible)');
  if (spool.unackedBytes > 0) log.info({ spoolBytes: spool.unackedBytes }, 'spool: re-sending what a previous run left');
  if (!cfg.identity.sign) {
    log.warn('identity: sign is false: messages go unsigned (aggregators with AGENT_IDENTITY=tofu or strict dead-letter them)');
    return new KafkaSink(spool, kafkaClient(kafka, log), kafka, metrics, log);
  }
  const { signer, created } = identity(cfg);
  log.info({ publicKey: signer.publicKey, keyFile: identityKeyFile(cfg) }, created ? 'identity: made a new signing key (enrol it where AGENT_IDENTITY=strict)' : 'identity: signing with its key');
  return new KafkaSink(spool, kafkaClient(kafka, log), kafka, metrics, log, signer);
}

/** The pinned keys of policies.publicKeyFile (the config requires it when policies are enabled). */
function policyVerifier(cfg: AgentConfig): PolicyVerifier {
  try {
    return loadPolicyVerifier(cfg.policies.publicKeyFile!);
  } catch (e) {
    throw new RefusedError(`policies.publicKeyFile: ${(e as Error).message}`);
  }
}

function identity(cfg: AgentConfig): ReturnType<typeof loadOrCreateSigner> {
  try {
    return loadOrCreateSigner(identityKeyFile(cfg));
  } catch (e) {
    throw new RefusedError(`identity: ${(e as Error).message}`);
  }
}

program
  .command('identity')
  .description("print this agent's public key (base64url Ed25519), making the key pair first if there is none; enrol it with PUT /api/v1/agents/{host}/key")
  .option('--config <file>', 'YAML config')
  .action((opts: { config?: string }) => {
    const cfg = config(opts);
    const { signer } = identity(cfg);
    process.stdout.write(`${signer.publicKey}\n`);
  });

program
  .command('cleanup')
  .description("remove what crashed agents left: our group's kprobes and the instances/probefleet-* of runs that are gone")
  .option('--config <file>', 'YAML config')
  .action(async (opts: { config?: string }) => {
    const cfg = config(opts);
    const report = await discoverHost(cfg.tracefs);
    if (!report.tracefs) throw new RefusedError('tracefs is not mounted');
    const tracefs = new Tracefs(report.tracefs);
    const removed = await removeLeftovers(tracefs, await findLeftovers(tracefs));
    log.info(removed, 'cleanup done');
    out(JSON.stringify(removed));
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const refused = e instanceof ConfigError || e instanceof RefusedError || e instanceof KprobeDefinitionError || e instanceof ProbePlanError;
  log.error({ err: refused ? undefined : e }, (e as Error).message);
  process.exitCode = refused ? EXIT_REFUSED : EXIT_FAILED;
});
