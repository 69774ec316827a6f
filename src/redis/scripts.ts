import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

/**
 * Lua scripts live in `.lua` files named `<name>-<numberOfKeys>.lua` (BullMQ's
 * convention), headed by the KEYS and ARGV they take. This registers each folder's
 * scripts on a connection once, as ioredis commands (EVALSHA with EVAL fallback).
 */
const loaded = new WeakMap<Redis, Set<string>>();
const cache = new Map<string, { name: string; numberOfKeys: number; lua: string }[]>();

function readScripts(dir: string) {
  let scripts = cache.get(dir);
  if (!scripts) {
    scripts = readdirSync(dir)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => {
        const m = /^(.+)-(\d+)\.lua$/.exec(f);
        if (!m) throw new Error(`Lua script ${f} must be named <name>-<numberOfKeys>.lua`);
        const name = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
        return { name, numberOfKeys: Number(m[2]), lua: readFileSync(join(dir, f), 'utf8') };
      });
    cache.set(dir, scripts);
  }
  return scripts;
}

export function defineScripts(redis: Redis, dir: string): void {
  let done = loaded.get(redis);
  if (!done) loaded.set(redis, (done = new Set()));
  if (done.has(dir)) return;
  for (const s of readScripts(dir)) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  done.add(dir);
}

/** Calls a script registered by defineScripts. */
export function callScript<T>(redis: Redis, name: string, keys: string[], args: (string | number)[]): Promise<T> {
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[name];
  if (typeof fn !== 'function') throw new Error(`Lua script ${name} is not defined on this connection`);
  return fn.call(redis, ...keys, ...args);
}
