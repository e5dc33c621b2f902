'use strict';
// Runs INSIDE the guest (host node via inhost), as root, with cgroup2 at /sys/fs/cgroup:
//   node test/kernel-lab/guest/ownership.js PLAN_JSON OUT_DIR          (the orchestrator)
// and as its own children: `server`, `worker` and `client` (argv[2]). The orchestrator starts a
// server in one cgroup listening on `before` and `handoff`, then the agent (kprobe mode); hands the
// `handoff` listener over to a worker process in another cgroup (the agent's scan saw the server hold
// it: only the accept kretprobe can tell the worker's sockets apart); a client in a third cgroup makes
// one exchange there (the client closes first); the server listens on `after`; two clients make K
// exchanges on `before` and `after` (the server closes first). Each exchange: the client sends N
// bytes, the server answers M. Writes OUT_DIR/agent.ndjson, agent.log, kprobe_profile, result.json.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const readline = require('node:readline');

const role = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (line) => process.stdout.write(`${line}\n`);
const commands = (onLine) => readline.createInterface({ input: process.stdin }).on('line', onLine);
const CG = '/sys/fs/cgroup';
const enter = (path, pid) => {
  fs.mkdirSync(`${CG}${path}`, { recursive: true });
  fs.writeFileSync(`${CG}${path}/cgroup.procs`, String(pid));
};
const who = (pid) => ({ pid, comm: fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), cgroup: fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim() });

/** Reads `n` bytes of a connection, then calls `done` once. */
function afterBytes(c, n, done) {
  let got = 0;
  c.on('data', (d) => {
    const before = got;
    got += d.length;
    if (before < n && got >= n) done();
  });
}

// The server closes first: on N bytes in, M bytes out and FIN.
const serverHandler = (N, M) => (c) => afterBytes(c, N, () => c.end(Buffer.alloc(M, 'm')));
// The client closes first: on N bytes in, M bytes out; FIN when the client's FIN came.
const workerHandler = (N, M) => (c) => {
  afterBytes(c, N, () => c.write(Buffer.alloc(M, 'm')));
  c.on('end', () => c.end());
};

if (role === 'server') {
  const [N, M] = process.argv.slice(3).map(Number);
  const servers = new Map();
  let worker = null;
  commands((l) => {
    const [cmd, arg, cgroup] = l.split(' ');
    if (cmd === 'listen') {
      const s = net.createServer(serverHandler(N, M));
      servers.set(Number(arg), s);
      s.listen(Number(arg), '127.0.0.1', () => say(`listening ${arg}`));
    } else if (cmd === 'handoff') {
      // The listening socket's fd goes to the worker as its fd 3; ours is closed once it listens on it.
      const s = servers.get(Number(arg));
      worker = spawn(process.execPath, [__filename, 'worker', String(N), String(M), cgroup], { stdio: ['pipe', 'pipe', 'inherit', s._handle.fd] });
      readline.createInterface({ input: worker.stdout }).once('line', () => {
        servers.delete(Number(arg));
        s.close(() => say(`handed ${arg} ${worker.pid}`));
      });
    } else if (cmd === 'stop') {
      let n = servers.size + (worker ? 1 : 0);
      const one = () => --n === 0 && say('stopped');
      for (const s of servers.values()) s.close(one);
      if (worker) {
        readline.createInterface({ input: worker.stdout }).once('line', one);
        worker.stdin.write('stop\n');
      }
    } else if (cmd === 'exit') {
      worker?.stdin.write('exit\n');
      setTimeout(() => process.exit(0), 200);
    }
  });
} else if (role === 'worker') {
  const [N, M] = process.argv.slice(3, 5).map(Number);
  fs.writeFileSync(`${process.argv[5]}/cgroup.procs`, String(process.pid));
  const s = net.createServer(workerHandler(N, M));
  s.listen({ fd: 3 }, () => say('ready'));
  commands((l) => {
    if (l === 'stop') s.close(() => say('stopped'));
    else if (l === 'exit') process.exit(0);
  });
} else if (role === 'client') {
  // argv: N M K then PORT:MODE... (MODE server-closes | client-closes); prints the exchanges as JSON.
  const [N, M, K] = process.argv.slice(3, 6).map(Number);
  const targets = process.argv.slice(6).map((t) => t.split(':'));
  const once = (port, mode) =>
    new Promise((resolve, reject) => {
      let got = 0;
      let lp;
      const c = net.connect(Number(port), '127.0.0.1', () => {
        lp = c.localPort;
        c.write(Buffer.alloc(N, 'n'));
      });
      c.on('data', (d) => {
        got += d.length;
        if (mode === 'client-closes' && got >= M) c.end();
      });
      c.on('end', () => mode === 'server-closes' && c.end());
      c.on('error', reject);
      c.on('close', () => resolve({ port: Number(port), localPort: lp, received: got }));
    });
  commands(async (l) => {
    if (l === 'exit') process.exit(0);
    const done = [];
    for (const [port, mode] of targets) for (let i = 0; i < K; i++) done.push(await once(port, mode));
    say(JSON.stringify(done));
  });
} else {
  orchestrate().catch((e) => {
    fs.writeFileSync(`${process.argv[3]}/result.json`, JSON.stringify({ error: String((e && e.stack) || e) }));
    process.exit(1);
  });
}

/** Lines of a child's stdout, one at a time. */
function lines(child) {
  const queue = [];
  const waiting = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => (waiting.length > 0 ? waiting.shift()(l) : queue.push(l)));
  return (timeoutMs = 120000) =>
    new Promise((resolve, reject) => {
      if (queue.length > 0) return resolve(queue.shift());
      const t = setTimeout(() => reject(new Error(`no line from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
      waiting.push((l) => (clearTimeout(t), resolve(l)));
    });
}

async function orchestrate() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const out = process.argv[3];
  const { ports, cgroups, N, M, K } = plan;
  const t0 = Date.now();
  const log = (m) => process.stderr.write(`ownership.js +${((Date.now() - t0) / 1000).toFixed(1)}s ${m}\n`);

  const server = spawn(process.execPath, [__filename, 'server', String(N), String(M)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const serverLine = lines(server);
  enter(cgroups.server, server.pid);
  server.stdin.write(`listen ${ports.before}\nlisten ${ports.handoff}\n`);
  await serverLine();
  await serverLine();
  log('server listening before the agent');

  const agentOut = fs.openSync(`${out}/agent.ndjson`, 'w');
  const agentLog = fs.openSync(`${out}/agent.log`, 'w');
  const agent = spawn(process.execPath, ['apps/agent/dist/main.js', 'run', '--mode', 'kprobe', '--sink', 'stdout', '--format', 'json', '--duration', '600'], {
    stdio: ['ignore', agentOut, agentLog],
  });
  const agentExit = new Promise((r) => agent.on('exit', (code) => r(code)));
  for (let i = 0; !fs.readFileSync(`${out}/agent.log`, 'utf8').includes('"msg":"agent started"'); i++) {
    if (i > 1200 || agent.exitCode !== null) throw new Error(`agent did not start: ${fs.readFileSync(`${out}/agent.log`, 'utf8')}`);
    await sleep(100);
  }
  log('agent started');

  fs.mkdirSync(`${CG}${cgroups.worker}`, { recursive: true });
  server.stdin.write(`handoff ${ports.handoff} ${CG}${cgroups.worker}\n`);
  const workerPid = Number((await serverLine()).split(' ')[2]);
  log(`handoff listener now held by worker ${workerPid}`);

  const spawnClient = (targets) => {
    const c = spawn(process.execPath, [__filename, 'client', String(N), String(M), String(K), ...targets], { stdio: ['pipe', 'pipe', 'inherit'] });
    enter(cgroups.client, c.pid);
    return { child: c, next: lines(c) };
  };
  const handoffClient = spawnClient([`${ports.handoff}:client-closes`]);
  handoffClient.child.stdin.write('go\n');
  const exchanges = JSON.parse(await handoffClient.next()).map((x) => ({ ...x, pid: handoffClient.child.pid }));
  log('handoff exchanges done');

  server.stdin.write(`listen ${ports.after}\n`);
  await serverLine();
  const clients = [0, 1].map(() => spawnClient([`${ports.before}:server-closes`, `${ports.after}:server-closes`]));
  for (const c of clients) c.child.stdin.write('go\n');
  for (const c of clients) exchanges.push(...JSON.parse(await c.next()).map((x) => ({ ...x, pid: c.child.pid })));
  log('client exchanges done');

  const processes = { server: who(server.pid), worker: who(workerPid), clients: [handoffClient, ...clients].map((c) => who(c.child.pid)) };
  fs.writeFileSync(`${out}/kprobe_profile`, fs.readFileSync('/sys/kernel/tracing/kprobe_profile', 'utf8'));
  // The listeners stay open until the agent has read every accept: under TCG it lags the exchanges
  // by hundreds of ms, and a listener made after the agent (`after`) is found in /proc only while it
  // is open (see SocketOwners.attribute).
  for (let i = 0; (fs.readFileSync(`${out}/agent.ndjson`, 'utf8').match(/"probe":"inet_csk_accept"/g) ?? []).length < exchanges.length; i++) {
    if (i > 600) throw new Error(`the agent did not report ${exchanges.length} accepts within 60 s`);
    await sleep(100);
  }
  server.stdin.write('stop\n');
  await serverLine();
  log('listeners closed');
  // Everyone stays alive until the agent has read their hits (a pid is read from /proc/<pid>).
  await sleep(1500);
  agent.kill('SIGINT');
  const agentCode = await agentExit;
  log(`agent exited ${agentCode}`);
  for (const c of [handoffClient, ...clients]) c.child.stdin.write('exit\n');
  server.stdin.write('exit\n');
  fs.writeFileSync(`${out}/result.json`, JSON.stringify({ agentCode, processes, exchanges }));
  await sleep(500);
}
