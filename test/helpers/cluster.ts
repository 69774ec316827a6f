import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureEmbeddedRedis } from '../../src/redis/embedded.ts';

export interface TestCluster {
  /** `redis-cluster://127.0.0.1:p1,…`, as a user would configure it. */
  url: string;
  /** One plain client per master, to look at where keys live. */
  nodes: Redis[];
  close(): Promise<void>;
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A loopback port whose cluster bus port (+10000) is free too. */
async function clusterPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

/** A local Redis Cluster of three masters, no replicas (`redis-cli --cluster create`), on 127.0.0.1. */
export async function startTestCluster(): Promise<TestCluster> {
  const base = mkdtempSync(join(tmpdir(), 'gs-cluster-'));
  const servers: { pid: number; port: number; node: Redis }[] = [];
  const close = async () => {
    for (const s of servers) {
      s.node.disconnect();
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(base, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort();
      const dir = join(base, `node-${i}`);
      const r = await ensureEmbeddedRedis({ dir, port, extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000'] });
      servers.push({ pid: r.pid!, port, node: new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 3 }) });
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const s of servers) {
      for (let i = 0; !((await s.node.cluster('INFO')) as string).includes('cluster_state:ok'); i++) {
        if (i > 200) throw new Error('the cluster did not reach cluster_state:ok');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { url: `redis-cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`, nodes: servers.map((s) => s.node), close };
}
