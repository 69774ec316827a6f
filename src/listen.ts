import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from './errors.ts';

/*
 * The two servers a command can start (the dashboard, a worker's metrics) read their port
 * and explain a refused listen the same way: a usage error (exit 2) naming the flags.
 */

/** A port given as `flag`: an integer in 0..65535 (0: any free port). */
export function parsePort(flag: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n > 65_535) {
    throw new UsageError(`${flag}: expected a port in 0..65535, got ${JSON.stringify(raw.slice(0, 20))}`);
  }
  return n;
}

/** Listens, or rejects with what the operator can change (`flags`: the flags that chose host and port). */
export function listen(server: Server, port: number, host: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE' ? `${host}:${port} is already in use (try another port)`
        : err.code === 'EACCES' ? `not allowed to listen on ${host}:${port} (ports below 1024 need privileges)`
        : err.code === 'EADDRNOTAVAIL' ? `${host} is not an address of this machine`
        : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? `${host} is not a name this machine can resolve`
        : err.code ? `cannot listen on ${host}:${port} (${err.code})`
        : null;
      reject(why ? new UsageError(`${flags}: ${why}`) : err);
    });
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}
