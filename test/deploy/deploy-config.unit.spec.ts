// The deployment files (deploy/compose.yaml, deploy/k8s, deploy/systemd) against what the apps
// accept: every aggregator variable is a key of AggregatorEnvSchema and the whole environment
// loads; every agent variable is one the agent's env mapping reads, and config file + environment
// pass AgentConfigSchema. A renamed or dropped setting fails here instead of silently in a fleet.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// `yaml` as it resolves from here (1.x today, hoisted; the agent has 2.x): only API both versions share.
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { AggregatorEnvSchema, loadConfig as loadAggregatorConfig } from '../../apps/aggregator/src/config';
import { configFromEnv, loadConfig as loadAgentConfig, type AgentConfig } from '../../apps/agent/src/config';
import { writePolicyKeyPair } from '@probefleet/signature';

const DEPLOY = join(__dirname, '..', '..', 'deploy');
const read = (...p: string[]) => readFileSync(join(DEPLOY, ...p), 'utf8');
const AGGREGATOR_KEYS = new Set(Object.keys(AggregatorEnvSchema.shape));
/** Stand-ins for what the files take from the operator's environment or from Secrets. */
const SAMPLE_SECRET = 'sample-secret';

/** Compose's interpolation: ${VAR:-default} gives the default, ${VAR:?err} and ${VAR} a sample value. */
const composeValue = (v: unknown) =>
  String(v).replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, _name: string, op?: string, arg?: string) => (op === '-' ? arg! : SAMPLE_SECRET));

/** Read by the agent outside its config: createLogger in apps/agent/src/log.ts. */
const AGENT_LOG_VARIABLES = new Set(['PROBEFLEET_LOG_LEVEL']);

/** Agent variables that the agent ignores (each must change configFromEnv's result when present). */
function unreadAgentVariables(env: Record<string, string>): string[] {
  const all = JSON.stringify(configFromEnv(env));
  return Object.keys(env).filter((name) => {
    if (AGENT_LOG_VARIABLES.has(name)) return false;
    const { [name]: _dropped, ...rest } = env;
    return JSON.stringify(configFromEnv(rest)) === all;
  });
}

/** The agent's config exactly as `run --config FILE` would load it with this environment. */
function agentConfig(yamlText: string | undefined, env: Record<string, string>): AgentConfig {
  const dir = mkdtempSync(join(tmpdir(), 'probefleet-deploy-'));
  try {
    const file = join(dir, 'agent.yaml');
    if (yamlText !== undefined) writeFileSync(file, yamlText);
    return loadAgentConfig({ file: yamlText === undefined ? undefined : file, env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What `run` needs on top of the schema: the kafka sink needs brokers. */
function expectRunnable(cfg: AgentConfig) {
  expect(cfg.sink).toBe('kafka');
  expect(cfg.kafka?.brokers.length).toBeGreaterThan(0);
}

const commandOf = (args: string[]) => args.find((a) => !a.startsWith('-'));
const configFlag = (args: string[]) => args[args.indexOf('--config') + 1];

describe('deploy/compose.yaml', () => {
  const compose = parseYaml(read('compose.yaml')) as {
    services: Record<string, { environment?: Record<string, unknown>; command?: string[]; entrypoint?: string[]; volumes?: string[]; privileged?: boolean; pid?: string }>;
  };
  const env = (service: string) => Object.fromEntries(Object.entries(compose.services[service]!.environment ?? {}).map(([k, v]) => [k, composeValue(v)]));

  it('gives the aggregator only variables it knows, and a configuration that loads', () => {
    const aggregator = env('aggregator');
    expect(Object.keys(aggregator).filter((k) => !AGGREGATOR_KEYS.has(k))).toEqual([]);
    expect(loadAggregatorConfig(aggregator)).toMatchObject({ KAFKA_BROKERS: ['kafka:9092'], HOST: '0.0.0.0', PORT: 8080 });
    expect(compose.services['aggregator']!.entrypoint!.join(' ')).toMatch(/probefleet migrate && exec probefleet serve/);
  });

  it('requires the API tokens: compose stops without them, and the aggregator would refuse its 0.0.0.0 bind open', () => {
    expect(String(compose.services['aggregator']!.environment!['API_TOKENS'])).toMatch(/^\$\{PROBEFLEET_API_TOKENS:\?/);
    const { API_TOKENS: _tokens, ...open } = env('aggregator');
    expect(() => loadAggregatorConfig({ ...open, API_ADMIN_TOKENS: '' })).toThrow(/refusing to serve an open API on HOST=0\.0\.0\.0/);
  });

  it('gives the agent only variables it reads, and a configuration run accepts', () => {
    const agent = env('agent');
    expect(unreadAgentVariables(agent)).toEqual([]);
    expectRunnable(agentConfig(undefined, agent));
    expect(commandOf(compose.services['agent']!.command!)).toBe('run');
    expect(compose.services['agent']).toMatchObject({ privileged: true, pid: 'host' });
    const targets = compose.services['agent']!.volumes!.map((v) => v.split(':')[1]);
    // BTF comes with the privileged container's own /sys: a bind mount would fail on a BTF-less host.
    expect(targets).toEqual(expect.arrayContaining(['/sys/kernel/tracing', '/sys/kernel/debug']));
    expect(targets).not.toContain('/sys/kernel/btf');
  });

  it("provides every variable Grafana's provisioning expands, and mounts the dashboards where the provider reads them", () => {
    // Grafana expands ${VAR} in the parsed values (comments are not values).
    const values = JSON.stringify(parseYaml(read('grafana', 'provisioning', 'datasources', 'probefleet.yaml')));
    const wanted = [...values.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(wanted.length).toBeGreaterThan(0);
    expect(wanted.filter((v) => !(v in env('grafana')))).toEqual([]);
    const provider = parseYaml(read('grafana', 'provisioning', 'dashboards', 'probefleet.yaml')) as { providers: { options: { path: string } }[] };
    const mounts = compose.services['grafana']!.volumes!.map((v) => v.split(':').slice(0, 2));
    expect(mounts).toEqual(expect.arrayContaining([['./grafana/provisioning', '/etc/grafana/provisioning'], ['./grafana/dashboards', provider.providers[0]!.options.path]]));
  });
});

describe('deploy/k8s', () => {
  type Env = { name: string; value?: string; valueFrom?: unknown };
  type Container = { name: string; args?: string[]; command?: string[]; env?: Env[]; envFrom?: { configMapRef?: { name: string } }[]; volumeMounts?: { name: string; mountPath: string }[]; securityContext?: { privileged?: boolean }; resources?: { limits?: Record<string, string> } };
  type PodSpec = { containers: Container[]; initContainers?: Container[]; hostPID?: boolean; tolerations?: { operator?: string }[]; terminationGracePeriodSeconds?: number; volumes?: { name: string; configMap?: { name: string }; hostPath?: { path: string } }[] };
  type Resource = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: { template?: { spec: PodSpec } } };

  const files = readdirSync(join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml'));
  const resources = files.flatMap((f) => parseAllDocuments(read('k8s', f)).map((d) => d.toJSON() as Resource)).filter((r) => r.kind !== 'Kustomization');
  const find = (kind: string, name: string) => {
    const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
    if (!r) throw new Error(`no ${kind} ${name} in deploy/k8s`);
    return r;
  };
  /** A container's environment: ConfigMaps it imports, its own values, and a sample for each Secret. */
  const containerEnv = (c: Container): Record<string, string> => ({
    ...Object.assign({}, ...(c.envFrom ?? []).map((e) => find('ConfigMap', e.configMapRef!.name).data)) as Record<string, string>,
    ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? SAMPLE_SECRET])),
  });

  it('lists every manifest in the kustomization', () => {
    const kustomization = parseYaml(read('k8s', 'kustomization.yaml')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
  });

  it('gives the aggregator (and its migrate step) only variables it knows, and a configuration that loads', () => {
    const pod = find('Deployment', 'probefleet-aggregator').spec!.template!.spec;
    // The policy signing key, as the policy-key step leaves it (0600): a throw-away one here.
    const keys = mkdtempSync(join(tmpdir(), 'probefleet-deploy-key-'));
    const { privateFile } = writePolicyKeyPair(join(keys, 'policy.key'));
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const env = containerEnv(c);
      expect({ container: c.name, unknown: Object.keys(env).filter((k) => !AGGREGATOR_KEYS.has(k)) }).toEqual({ container: c.name, unknown: [] });
      // The sample SASL mechanism stands in for a Secret's value: the schema checks the real one.
      const loadable: Record<string, string> = { ...env, DATABASE_URL: 'postgresql://probefleet@db/probefleet', ...(env['POLICY_SIGNING_KEY_FILE'] ? { POLICY_SIGNING_KEY_FILE: privateFile } : {}) };
      delete loadable['KAFKA_SASL_MECHANISM'];
      expect(() => loadAggregatorConfig(loadable)).not.toThrow();
      // Without the token Secret it does not start open.
      if (loadable['HOST'] === '0.0.0.0') expect(() => loadAggregatorConfig({ ...loadable, API_TOKENS: '', API_ADMIN_TOKENS: '' })).toThrow(/refusing to serve an open API/);
    }
    rmSync(keys, { recursive: true, force: true });
    expect(pod.initContainers!.map((c) => c.args ?? c.command)).toEqual([['migrate'], ['install', '-m', '600', '/etc/probefleet/policy-signing/policy.key', '/run/probefleet/policy.key']]);
    expect(pod.containers.map((c) => c.args)).toEqual([['serve']]);
    // The serve step signs with the key the policy-key step copied.
    expect(containerEnv(pod.containers[0]!)['POLICY_SIGNING_KEY_FILE']).toBe('/run/probefleet/policy.key');
  });

  it('gives the agent only variables it reads, and a config file + environment run accepts', () => {
    const pod = find('DaemonSet', 'probefleet-agent').spec!.template!.spec;
    const [agent] = pod.containers;
    const env = Object.fromEntries(Object.entries(containerEnv(agent!)).map(([k, v]) => [k, k.endsWith('SASL_MECHANISM') ? 'scram-sha-512' : v]));
    expect(unreadAgentVariables(env)).toEqual([]);
    expect(commandOf(agent!.args!)).toBe('run');

    // The --config path must be a file of the mounted ConfigMap.
    const path = configFlag(agent!.args!)!;
    const mount = agent!.volumeMounts!.find((m) => path.startsWith(`${m.mountPath}/`))!;
    const configMap = find('ConfigMap', pod.volumes!.find((v) => v.name === mount.name)!.configMap!.name);
    const cfg = agentConfig(configMap.data![path.slice(mount.mountPath.length + 1)], env);
    expectRunnable(cfg);
    expect(cfg.host).toBe(SAMPLE_SECRET); // from the node name, not the pod's host name
    expect(cfg.kafka?.sasl?.mechanism).toBe('scram-sha-512');
  });

  it('runs the agent on every node, in the host PID namespace, with tracefs and debugfs, limits and time to clean up', () => {
    const pod = find('DaemonSet', 'probefleet-agent').spec!.template!.spec;
    expect(pod.hostPID).toBe(true);
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    const [agent] = pod.containers;
    expect(agent!.securityContext?.privileged).toBe(true);
    expect(Object.keys(agent!.resources?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
    const hostPaths = pod.volumes!.flatMap((v) => (v.hostPath ? [v.hostPath.path] : []));
    expect(hostPaths).toEqual(expect.arrayContaining(['/sys/kernel/tracing', '/sys/kernel/debug']));
    // BTF is in the privileged container's /sys when the kernel has it; no hostPath a BTF-less node cannot satisfy.
    expect(hostPaths).not.toContain('/sys/kernel/btf');
  });
});

describe('deploy/systemd', () => {
  const unit = read('systemd', 'probefleet-agent.service');
  const directives = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

  it('runs the agent with commands it has and the shipped config, which run accepts with the example environment', () => {
    const [start] = directives('ExecStart');
    expect(commandOf(start!.split(/\s+/).slice(1))).toBe('run');
    // Leftovers of a crash are the restarted run's to report and remove, not a stop hook's.
    expect(directives('ExecStopPost')).toEqual([]);
    expect(directives('Restart')).toEqual(['on-failure']);
    expect(configFlag(start!.split(/\s+/))).toBe('/etc/probefleet/agent.yaml');

    const example = Object.fromEntries(
      [...read('systemd', 'agent.env.example').matchAll(/^#?(PROBEFLEET_\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2] || SAMPLE_SECRET]),
    );
    const environment = Object.fromEntries(directives('Environment').flatMap((d) => d.split(/\s+/).map((kv) => kv.split('=') as [string, string])));
    const env = { ...example, ...environment };
    expect(Object.keys(env).length).toBeGreaterThan(0);
    expect(unreadAgentVariables(env)).toEqual([]);
    expectRunnable(agentConfig(read('systemd', 'agent.yaml'), {}));
    expectRunnable(agentConfig(read('systemd', 'agent.yaml'), env));
  });

  it('restarts on failure and keeps /sys writable for tracefs', () => {
    expect(directives('Restart')).toEqual(['on-failure']);
    expect(directives('NoNewPrivileges')).toEqual(['yes']);
    expect(directives('ProtectHome')).toEqual(['yes']);
    expect(directives('PrivateTmp')).toEqual(['yes']);
    expect(directives('ProtectKernelTunables')).not.toContain('yes');
    // strict leaves /sys alone (an API file system): tracefs stays writable.
    expect(directives('ProtectSystem')).toEqual(['strict']);
    expect(unit).not.toMatch(/^(ReadOnlyPaths|InaccessiblePaths)=.*\/sys/m);
  });

  // systemd's own parser checks every directive name and value (needs systemd-analyze on the machine).
  it('is a unit systemd parses without complaint', () => {
    let output = '';
    try {
      execFileSync('systemd-analyze', ['verify', join(DEPLOY, 'systemd', 'probefleet-agent.service')], { stdio: 'pipe', encoding: 'utf8' });
    } catch (e) {
      output = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
    }
    // The binary is not installed on a build machine; anything else is a real complaint.
    expect(output.split('\n').filter((l) => l.trim() !== '' && !/probefleet-agent is not executable/.test(l))).toEqual([]);
  });

  it('has an install script bash can parse', () => {
    expect(() => execFileSync('bash', ['-n', join(DEPLOY, 'systemd', 'install.sh')])).not.toThrow();
  });
});
