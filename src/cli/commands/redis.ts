import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { embeddedRedisDir, runningEmbeddedRedis, stopEmbeddedRedis } from '../../redis/embedded.ts';
import { readConfig } from '../context.ts';
import { out, type CliIO } from '../io.ts';

/** `grantsweep redis stop|status`: the embedded redis-server that commands start on demand. */
export async function redisCommand(io: CliIO, action: string): Promise<ExitCode> {
  const config = readConfig(io, {}, {});
  const dir = embeddedRedisDir(config.home);
  if (config.redisUrl) throw new UsageError('REDIS_URL is set: grantsweep does not manage that Redis');
  if (action === 'stop') {
    await out(io, (await stopEmbeddedRedis(dir)) ? `stopped the embedded Redis in ${dir}\n` : `no embedded Redis is running in ${dir}\n`);
    return EXIT.ok;
  }
  if (action === 'status') {
    const socket = await runningEmbeddedRedis(dir);
    await out(io, socket ? `embedded Redis: ${socket}\n` : 'embedded Redis: not running\n');
    return EXIT.ok;
  }
  throw new UsageError(`redis: expected "status" or "stop", got ${JSON.stringify(action)}`);
}
