import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ORG_KEY, orgKeysWithQueues, queueNameOf } from '../queue/org.ts';
import { createRedis } from '../redis/connection.ts';
import { queuePrefix } from '../redis/keys.ts';
import type { RunStore } from '../runs/run-store.ts';

/**
 * The org queues bull-board shows: every queue BullMQ has written a meta key for under
 * grantsweep's prefix, every org a recent run belongs to, and the configured org.
 * Queues are read-only on the board: a job emptied or removed there would leave its
 * target pending forever (the feeder has moved past it); retry and cancel are the runs
 * page's buttons, which go through the run store.
 */
export async function discoverQueueNames(redis: Redis, store: RunStore, orgKeys: readonly string[] = []): Promise<string[]> {
  const keys = new Set([...orgKeys, ...(await orgKeysWithQueues(redis))]);
  for (const meta of await store.listRuns(100)) if (meta.orgKey) keys.add(meta.orgKey);
  return [...keys].filter((k) => ORG_KEY.test(k)).map(queueNameOf).sort();
}

export interface QueueBoard {
  /** The Express router to mount at `basePath`. */
  router: ReturnType<ExpressAdapter['getRouter']>;
  /** Adds the queues that appeared since the last call; at most once per `minIntervalMs`. */
  refresh(force?: boolean): Promise<void>;
  names(): string[];
  close(): Promise<void>;
}

export function createQueueBoard(opts: {
  redis: Redis;
  redisUrl: string;
  store: RunStore;
  basePath: string;
  orgKeys: readonly string[];
  log?: Logger;
  minIntervalMs?: number;
}): QueueBoard {
  const connection = createRedis({ url: opts.redisUrl, role: 'worker' });
  connection.on('error', (err) => opts.log?.warn({ err: String(err) }, 'dashboard: queue connection error'));
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(opts.basePath);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'grantsweep', miscLinks: [{ text: 'Runs', url: '/' }], hideDocsLink: true } },
  });
  const queues = new Map<string, Queue>();
  let last = 0;
  let pending: Promise<void> | null = null;

  const refresh = async (force = false) => {
    if (!force && Date.now() - last < (opts.minIntervalMs ?? 5_000)) return;
    pending ??= (async () => {
      try {
        for (const name of await discoverQueueNames(opts.redis, opts.store, opts.orgKeys)) {
          if (queues.has(name)) continue;
          const queue = new Queue(name, { connection, prefix: queuePrefix });
          queue.on('error', (err) => opts.log?.warn({ err: String(err), queue: name }, 'dashboard: queue error'));
          queues.set(name, queue);
          board.addQueue(new BullMQAdapter(queue, { readOnlyMode: true, allowRetries: false, description: 'one queue per Okta org' }));
        }
        last = Date.now();
      } finally {
        pending = null;
      }
    })();
    await pending;
  };

  return {
    router: serverAdapter.getRouter(),
    refresh,
    names: () => [...queues.keys()],
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => {})));
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
