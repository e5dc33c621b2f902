// The deployment files against what their ecosystems expect, by parsing them (no Docker engine or
// cluster runs here): Kubernetes scheduling and hardening, the compose dev profile, image layering
// and labels, and the licence. deploy-config.unit.spec.ts checks the settings against the apps.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

const REPO = join(__dirname, '..', '..');
const read = (...p: string[]) => readFileSync(join(REPO, ...p), 'utf8');

type Json = Record<string, unknown>;
interface Resource { kind: string; metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> }; spec?: Json }
const resources: Resource[] = readdirSync(join(REPO, 'deploy', 'k8s'))
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(read('deploy', 'k8s', f)).map((d) => d.toJSON() as Resource));
const find = (kind: string, name: string) => {
  const r = resources.find((x) => x.kind === kind && x.metadata.name === name);
  if (!r) throw new Error(`no ${kind} ${name} in deploy/k8s`);
  return r;
};
interface Container { name: string; ports?: { name: string; containerPort: number }[]; env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[] }
interface Pod { metadata: { annotations?: Record<string, string>; labels: Record<string, string> }; spec: Json & { containers: Container[]; volumes?: { name: string; hostPath?: { path: string; type?: string } }[] } }
const podOf = (r: Resource) => (r.spec as { template: Pod }).template;

describe('deploy/k8s', () => {
  const agent = podOf(find('DaemonSet', 'probefleet-agent'));
  const aggregator = podOf(find('Deployment', 'probefleet-aggregator'));

  it('schedules the agent on amd64 nodes only, at node-critical priority', () => {
    expect(agent.spec['nodeSelector']).toEqual({ 'kubernetes.io/arch': 'amd64' });
    expect(agent.spec['priorityClassName']).toBe('system-node-critical');
  });

  it('mounts no host path the kubelet would have to create, so a BTF-less node still runs the agent', () => {
    const hostPaths = (agent.spec.volumes ?? []).flatMap((v) => (v.hostPath ? [v.hostPath] : []));
    for (const h of hostPaths.filter((x) => x.path.startsWith('/sys/'))) expect(h).toEqual({ path: h.path, type: 'Directory' });
    expect(hostPaths.map((h) => h.path)).not.toContain('/sys/kernel/btf');
  });

  it('runs the aggregator under the runtime default seccomp profile, on amd64', () => {
    expect((aggregator.spec['securityContext'] as Json)['seccompProfile']).toEqual({ type: 'RuntimeDefault' });
    expect(aggregator.spec['nodeSelector']).toEqual({ 'kubernetes.io/arch': 'amd64' });
  });

  it('keeps one aggregator through voluntary disruptions', () => {
    const pdb = find('PodDisruptionBudget', 'probefleet-aggregator').spec as { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    expect(pdb.minAvailable).toBeGreaterThanOrEqual(1);
    const deployment = find('Deployment', 'probefleet-aggregator').spec as { replicas: number };
    expect(pdb.minAvailable).toBeLessThan(deployment.replicas);
    for (const [k, v] of Object.entries(pdb.selector.matchLabels)) expect(aggregator.metadata.labels[k]).toBe(v);
  });

  it.each([
    ['aggregator', () => aggregator, 'http', '/metrics'],
    ['agent', () => agent, 'metrics', undefined],
  ] as const)('tells Prometheus where the %s serves /metrics', (_name, pod, portName, path) => {
    const a = pod().metadata.annotations ?? {};
    expect(a['prometheus.io/scrape']).toBe('true');
    const port = pod().spec.containers[0]!.ports!.find((p) => p.name === portName)!;
    expect(a['prometheus.io/port']).toBe(String(port.containerPort));
    if (path) expect(a['prometheus.io/path']).toBe(path);
  });

  it('requires the API token Secret: the aggregator does not start with an open API', () => {
    const env = aggregator.spec.containers[0]!.env!.find((e) => e.name === 'API_TOKENS')!;
    expect(env.valueFrom?.secretKeyRef).toEqual({ name: 'probefleet-aggregator', key: 'API_TOKENS' });
  });
});

describe('deploy/compose.yaml', () => {
  interface Service { image?: string; profiles?: string[]; ports?: string[]; command?: string[]; environment?: Record<string, string>; build?: { context: string; dockerfile: string } }
  const compose = parseYaml(read('deploy', 'compose.yaml')) as { services: Record<string, Service> };
  const services = Object.entries(compose.services);
  const published = (s: Service) => (s.ports ?? []).map((p) => p.split(':'));

  it('publishes ports on the loopback only', () => {
    for (const [name, s] of services) for (const p of published(s)) expect({ name, bind: p[0] }).toEqual({ name, bind: '127.0.0.1' });
  });

  it('publishes Kafka and PostgreSQL in the dev profile only, on their usual ports', () => {
    const dev = services.filter(([, s]) => s.profiles?.includes('dev'));
    const hostPorts = (list: [string, Service][]) => list.flatMap(([, s]) => published(s).map((p) => p[1]));
    expect(hostPorts(dev).sort()).toEqual(['5432', '9092']);
    expect(hostPorts(services.filter(([, s]) => !s.profiles))).not.toEqual(expect.arrayContaining(['9092']));
    expect(hostPorts(services.filter(([, s]) => !s.profiles))).not.toEqual(expect.arrayContaining(['5432']));
  });

  it('advertises the host listener as localhost on the published port, reached through the forwarder', () => {
    const env = compose.services['kafka']!.environment!;
    const listeners = Object.fromEntries(env['KAFKA_LISTENERS']!.split(',').map((l) => l.split('://') as [string, string]));
    const advertised = Object.fromEntries(env['KAFKA_ADVERTISED_LISTENERS']!.split(',').map((l) => l.split('://') as [string, string]));
    expect(advertised['HOST']).toBe('localhost:9092');
    expect(env['KAFKA_LISTENER_SECURITY_PROTOCOL_MAP']).toMatch(/(^|,)HOST:PLAINTEXT(,|$)/);
    const forwarder = compose.services['kafka-dev']!;
    expect(forwarder.command).toEqual(['TCP-LISTEN:9092,fork,reuseaddr', `TCP:kafka${listeners['HOST']}`]);
    expect(compose.services['postgres-dev']!.command).toEqual(['TCP-LISTEN:5432,fork,reuseaddr', 'TCP:postgres:5432']);
    expect(read('deploy', forwarder.build!.context, forwarder.build!.dockerfile)).toMatch(/apk add --no-cache socat/);
  });
});

describe('deploy/docker', () => {
  const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces.flatMap((w) =>
    w.endsWith('/*') ? readdirSync(join(REPO, w.slice(0, -2))).map((d) => `${w.slice(0, -2)}/${d}`) : [w],
  ).filter((d) => { try { read(d, 'package.json'); return true; } catch { return false; } });
  const dockerfiles = readdirSync(join(REPO, 'deploy', 'docker')).filter((f) => f.endsWith('.Dockerfile'));
  const instructions = (f: string) => read('deploy', 'docker', f).replace(/\\\n/g, ' ').split('\n').filter((l) => /^[A-Z]+\s/.test(l));

  it.each(['aggregator.Dockerfile', 'agent.Dockerfile'])('%s: npm ci sees only the manifests, so its layer survives source edits', (f) => {
    const lines = instructions(f);
    const ci = lines.findIndex((l) => /^RUN npm ci\b/.test(l));
    const copyAll = lines.findIndex((l) => /^COPY \. \./.test(l));
    expect(ci).toBeGreaterThan(0);
    expect(copyAll).toBeGreaterThan(ci);
    const copied = lines.slice(0, ci).filter((l) => l.startsWith('COPY ')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copied.sort()).toEqual(['package-lock.json', 'package.json', ...workspaces.map((w) => `${w}/package.json`)].sort());
  });

  it('ships the agent image with the single executable and nothing of the workspace', () => {
    const lines = instructions('agent.Dockerfile');
    const runtime = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
    expect(lines.some((l) => l.includes('deploy/systemd/build-agent-binary.sh'))).toBe(true);
    expect(runtime[0]).toMatch(/^FROM debian:bookworm-slim/); // node:24-slim's Debian: the same glibc
    expect(runtime.filter((l) => l.startsWith('COPY '))).toEqual(['COPY --from=build /out/probefleet-agent /usr/local/bin/probefleet-agent']);
  });

  it.each(dockerfiles)('%s: labels the image the OCI way, with the licence', (f) => {
    const labels = instructions(f).filter((l) => l.startsWith('LABEL ')).join(' ');
    for (const key of ['title', 'description', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    expect(labels).toContain('org.opencontainers.image.licenses="Apache-2.0"');
  });
});

describe('LICENSE', () => {
  it('is the Apache License 2.0, which package.json names', () => {
    const text = read('LICENSE');
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(text).toContain('END OF TERMS AND CONDITIONS');
    expect(text.match(/^ {3}\d\. [A-Z]/gm)).toHaveLength(9); // sections 1 to 9
    expect((JSON.parse(read('package.json')) as { license: string }).license).toBe('Apache-2.0');
  });
});
