/**
 * How many simple requests a second the simulator answers on one core: the sim runs
 * in a child process (`--serve`), this process drives it over keep-alive connections
 * with undici for ~5 s (GET a user's grants, limit=2) and prints `sim: N req/s`.
 *
 *   node --import tsx bench/sim-throughput.ts [--seconds 5] [--connections 32] [--users 10000]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { startSimulator } from '../src/sim/index.ts';

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    users: { type: 'string', default: '10000' },
  },
});

async function serve(): Promise<void> {
  // Limits off: we measure the server, not how fast it can say 429.
  const sim = await startSimulator({ users: Number(args.users), rateLimits: 'none', concurrencyLimit: 0 });
  process.stdout.write(`${JSON.stringify({ url: sim.url, token: sim.token })}\n`);
  process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
}

/** CPU seconds a process has used (Linux /proc; null elsewhere). */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

async function drive(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--serve', '--users', String(args.users)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  const { url, token } = JSON.parse(line) as { url: string; token: string };
  const connections = Number(args.connections);
  const seconds = Number(args.seconds);
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const sample = (await (await fetch(`${url}/__sim/users?count=1000&minGrants=1`)).json()) as { id: string }[];
  const paths = sample.map((u) => `/api/v1/users/${u.id}/grants?limit=2`);
  const origin = new URL(url).origin;
  const headers = { authorization: `SSWS ${token}` };

  let ok = 0;
  let failed = 0;
  let stop = false;
  const loop = async (n: number) => {
    for (let i = n; !stop; i += connections) {
      // origin + path: no URL parsing per request, so the driver is not the bottleneck.
      const res = await agent.request({ origin, path: paths[i % paths.length] as string, method: 'GET', headers });
      await res.body.dump();
      if (res.statusCode === 200) ok++;
      else failed++;
    }
  };
  // A short warm-up so JIT and connection setup do not count.
  const warm = Array.from({ length: connections }, (_, n) => loop(n));
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(warm);
  ok = 0;
  failed = 0;
  stop = false;
  const started = performance.now();
  const cpuBefore = cpuSeconds(child.pid);
  const runs = Array.from({ length: connections }, (_, n) => loop(n));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  await Promise.all(runs);
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = cpuSeconds(child.pid);
  await agent.close();
  child.kill('SIGTERM');

  const rps = Math.round(ok / elapsed);
  // How busy the simulator's core was: below 1 means the driver, not the sim, set the pace.
  const simCpu = cpuBefore !== null && cpuAfter !== null ? (cpuAfter - cpuBefore) / elapsed : null;
  const result = {
    benchmark: 'sim-throughput',
    request: 'GET /api/v1/users/{id}/grants?limit=2 (SSWS, keep-alive)',
    reqPerSec: rps,
    ok,
    failed,
    seconds: Number(elapsed.toFixed(2)),
    connections,
    simCpuShare: simCpu === null ? null : Number(simCpu.toFixed(2)),
    // Requests per second of simulator CPU: what one free core would sustain, whatever else runs on the machine.
    reqPerSimCoreSec: simCpu ? Math.round(rps / simCpu) : null,
    users: Number(args.users),
    node: process.version,
    date: new Date().toISOString(),
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/sim-throughput.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`sim: ${rps} req/s`);
  if (simCpu) console.error(`(simulator busy ${(simCpu * 100).toFixed(0)}% of one core: ${Math.round(rps / simCpu)} req per core-second)`);
  if (failed > 0) console.error(`(${failed} requests did not answer 200)`);
}

await (args.serve ? serve() : drive());
