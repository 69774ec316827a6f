import { Harness, startCluster, sleep } from '../lib/harness.ts';
import { createRedis } from '../../src/redis/connection.ts';
const h = Harness.start('scratch', 60_000);
const c = await startCluster(h, 3);
console.log(c.url);
c.client.on('error', (e) => console.log('bench client error', String(e)));
console.log('status', (c.client as any).status);
try { console.log(await c.client.set('a{x}', '1'), await c.client.get('a{x}')); } catch (e) { console.log('bench client', String(e)); }
const r = createRedis({ url: c.url });
r.on('error', (e) => console.log('gs client error', String(e)));
await r.connect();
console.log(await r.set('b{y}', '2'), await r.get('b{y}'), (await r.info('memory')).length);
r.disconnect();
await h.close();
