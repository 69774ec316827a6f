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
  /** One plain client per master (and replica, with `replicas`), to look at where keys live. */
  nodes: Redis[];
  /**
   * A manual failover (CLUSTER FAILOVER, as for maintenance) of the master that serves `key`:
   * its replica takes over once it has caught up. Resolves with the ports of the old and new
   * master once every node sees the new one.
   */
  failover(key: string): Promise<{ from: number; to: number; forced: boolean }>;
  /**
   * Kills the master that serves `key` (SIGKILL: what it had not sent its replica is lost),
   * then waits until its replica has taken over by election (cluster-node-timeout, 5 s).
   */
  crash(key: string): Promise<{ from: number; to: number }>;
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

/** A line of CLUSTER NODES: id, port, flags, its master's id (replicas), and the slot ranges it serves. */
function clusterNodes(text: string) {
  return text.trim().split('\n').map((line) => {
    const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
    return {
      id: id!,
      port: Number(/:(\d+)@/.exec(addr!)![1]),
      myself: flags!.split(',').includes('myself'),
      master: flags!.split(',').includes('master'),
      masterId: master === '-' ? null : master!,
      slots: slots.filter((r) => !r.startsWith('[')).map((r) => r.split('-').map(Number) as [number, number?]),
    };
  });
}

/** A local Redis Cluster of three masters (`redis-cli --cluster create`), on 127.0.0.1; `replicas` per master, none by default. */
export async function startTestCluster(opts: { replicas?: number } = {}): Promise<TestCluster> {
  const replicas = opts.replicas ?? 0;
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
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      const port = await clusterPort();
      const dir = join(base, `node-${i}`);
      const r = await ensureEmbeddedRedis({ dir, port, extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000'] });
      servers.push({ pid: r.pid!, port, node: new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 3 }) });
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
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
    // Replicas are attached after the slots are assigned: wait until every node sees each
    // one as a replica, and each has its master's data.
    for (let i = 0; replicas > 0; i++) {
      const views = await Promise.all(servers.map(async (s) => clusterNodes((await s.node.cluster('NODES')) as string)));
      const synced = await Promise.all(
        servers.map(async (s) => {
          const info = (await s.node.info('replication')) as string;
          return info.includes('role:master') || info.includes('master_link_status:up');
        }),
      );
      if (views.every((v) => v.filter((n) => n.masterId !== null).length === 3 * replicas) && synced.every(Boolean)) break;
      if (i > 400) throw new Error('the replicas did not attach');
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await close();
    throw err;
  }
  /** What each node says of itself (the one view that is never stale). */
  const dead = new Set<number>();
  const alive = () => servers.filter((s) => !dead.has(s.port));
  const selves = () =>
    Promise.all(alive().map(async (s) => ({ ...clusterNodes((await s.node.cluster('NODES')) as string).find((n) => n.myself)!, node: s.node, pid: s.pid })));
  /** The master that serves `key`'s slot and a replica of it, as the nodes say of themselves. */
  const shardOf = async (key: string) => {
    const slot = (await alive()[0]!.node.cluster('KEYSLOT', key)) as number;
    for (let i = 0; ; i++) {
      const nodes = await selves();
      const master = nodes.find((n) => n.master && n.slots.some(([a, b]) => slot >= a && slot <= (b ?? a)));
      const replica = nodes.find((n) => master && n.masterId === master.id);
      if (master && replica) return { slot, master, replica };
      if (i > 100) throw new Error(`no master with a replica serves slot ${slot}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  /** Every node alive sees `port` as a master, and the cluster is whole. */
  const promoted = async (port: number) => {
    const views = await Promise.all(
      alive().map(async (s) => {
        const nodes = clusterNodes((await s.node.cluster('NODES')) as string);
        const ok = ((await s.node.cluster('INFO')) as string).includes('cluster_state:ok');
        return ok && nodes.find((n) => n.port === port)!.master;
      }),
    );
    return views.every(Boolean);
  };
  const crash = async (key: string) => {
    const { master, replica } = await shardOf(key);
    dead.add(master.port);
    master.node.disconnect();
    process.kill(master.pid, 'SIGKILL');
    for (let i = 0; !(await promoted(replica.port)); i++) {
      if (i > 600) throw new Error(`the replica ${replica.port} was not elected`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { from: master.port, to: replica.port };
  };
  const failover = async (key: string) => {
    const { slot, master, replica } = await shardOf(key);
    // A manual failover that does not finish in time (the replica must catch up within 5 s)
    // is dropped by Redis: ask again, and on a loaded machine at last with FORCE, which does
    // not wait for the replica to catch up (writes can then be lost, as in a crash).
    for (let tries = 0; tries < 4; tries++) {
      const forced = tries === 3;
      await (forced ? replica.node.cluster('FAILOVER', 'FORCE') : replica.node.cluster('FAILOVER'));
      for (let j = 0; j < 160; j++) {
        if (await promoted(replica.port)) return { from: master.port, to: replica.port, forced };
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`the failover of slot ${slot} to ${replica.port} did not complete`);
  };
  return { url: `redis-cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`, nodes: servers.map((s) => s.node), failover, crash, close };
}
