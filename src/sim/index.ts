import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Grant, OktaUser, RefreshToken } from '../okta/types.ts';
import { AuthRegistry, newApiToken } from './auth.ts';
import type { SimContext } from './context.ts';
import { SimControl, type SampleQuery, type SampleUser, type SimCounts, type SimDirectory } from './control.ts';
import { FaultInjector } from './faults.ts';
import { handleInspect } from './inspect.ts';
import {
  applyConfigPatch,
  defaultRuntimeConfig,
  describeZodError,
  pickConfigPatch,
  simOptionsSchema,
  type RuntimeConfig,
  type SimConfigPatch,
  type SimOptions,
  type UserStatus,
} from './options.ts';
import { SimOrg } from './org.ts';
import { RateLimiter } from './rate-limiter.ts';
import { RequestLog, type LogSnapshot, type RequestEntry } from './request-log.ts';
import { handleApiRequest, type Pipeline } from './server.ts';
import { TokenEndpoint } from './token-endpoint.ts';
import { SimOptionsError } from './sim-errors.ts';

export type { SimOptions, SimConfigPatch, RuntimeConfig, SampleUser, SampleQuery, SimCounts, SimDirectory, LogSnapshot, RequestEntry };
export { SimOptionsError };

/**
 * An in-memory Okta org behind real HTTP on 127.0.0.1, for tests, the demo and
 * benchmarks. See options.ts for every knob and its default.
 */
export interface Simulator {
  url: string;
  port: number;
  token: string;
  readOnlyToken: string;
  close(): Promise<void>;
  org: {
    counts(): SimCounts;
    sampleUsers(q?: SampleQuery): SampleUser[];
    /** Active grants as GET …/grants would list them; null for an unknown user. */
    grantsOf(userIdOrLogin: string, expandScope?: boolean): Grant[] | null;
    /** Refresh tokens not revoked (one per client the user gave offline_access); null for an unknown user. */
    tokensOf(userIdOrLogin: string): RefreshToken[] | null;
    user(idOrLogin: string): OktaUser | null;
    /** An admin changes a user's status now (not DEPROVISIONED): a directory query sees the new status and lastUpdated. False for an unknown user. */
    setUserStatus(idOrLogin: string, status: UserStatus): boolean;
    /** Someone else revokes one grant (an admin in the console): no request, no rate limit. False if unknown or already gone. */
    revokeGrant(userIdOrLogin: string, grantId: string): boolean;
    /** Group, app and OAuth client ids with names. */
    directory(): SimDirectory;
    /** Restores the seeded org, clears the log, rate windows and fault sequence. */
    reset(): void;
  };
  log: {
    snapshot(): LogSnapshot;
    reset(): void;
    /** The latest requests one by one; empty unless started with `recordRequests`. */
    requests(): RequestEntry[];
  };
  /** Changes rate limits, faults, neighbour… at runtime; throws SimOptionsError when invalid. */
  configure(patch: SimConfigPatch): RuntimeConfig;
  config(): RuntimeConfig;
  /** An admin sets (or, with null, removes) an OAuth app's principal rate limit: listed and enforced from the next request. */
  setPrincipalRateLimit(clientId: string, percent: number | null): void;
}

export async function startSimulator(opts: SimOptions = {}): Promise<Simulator> {
  const { now: clock, ...plain } = opts;
  const parsed = simOptionsSchema.safeParse(plain);
  if (!parsed.success) throw new SimOptionsError(describeZodError(parsed.error));
  const o = parsed.data;
  const now = clock ?? Date.now;
  const seed = o.seed ?? 1;

  const org = new SimOrg({
    seed,
    users: o.users ?? 1000,
    statusMix: o.statusMix,
    groups: o.groups ?? 20,
    apps: o.apps ?? 10,
    clients: o.clients ?? 8,
    grantsPerUser: o.grantsPerUser ?? 3,
    scopes: o.scopes,
  });
  const settings = { current: applyConfigPatch(defaultRuntimeConfig(seed), pickConfigPatch(o)) };
  const config = () => settings.current;
  const log = new RequestLog(now, o.recordRequests ?? 0);
  // Mutable: an admin changes an app's share while workers run (setPrincipalRateLimit).
  const principalLimits = new Map((o.oauthClients ?? []).flatMap((c) => (c.ratePercentage ? [[c.clientId, c.ratePercentage] as const] : [])));
  const limiter = new RateLimiter(config, now, log, (label) => {
    const pct = label.startsWith('oauth:') ? principalLimits.get(label.slice('oauth:'.length)) : undefined;
    return pct === undefined ? undefined : pct / 100;
  });
  const faults = new FaultInjector(() => config().faults);
  const auth = new AuthRegistry(o.token ?? newApiToken(), o.readOnlyToken ?? newApiToken(), now);
  const ttl = o.accessTokenTtlSec ?? 3600;
  const tokens = new TokenEndpoint(o.oauthClients ?? [], auth, now, () => ttl);
  const ctx: SimContext = { org, base: '', config, tokens, principalLimits };
  const control = new SimControl(ctx, settings, limiter, faults, log);
  const pipeline: Pipeline = { ctx, auth, limiter, log, faults, now };

  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const rawQuery = q < 0 ? '' : raw.slice(q + 1);
    if (path.startsWith('/__sim/')) {
      handleInspect(control, req, res, path, new URLSearchParams(rawQuery)).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: String(e) }));
      });
      return;
    }
    handleApiRequest(pipeline, req, res, path, rawQuery);
  });
  const port = await listen(server, o.port ?? 0);
  ctx.base = `http://127.0.0.1:${port}`;

  return {
    url: ctx.base,
    port,
    token: auth.token,
    readOnlyToken: auth.readOnlyToken,
    close: () => close(server),
    org: {
      counts: () => control.counts(),
      sampleUsers: (q) => control.sampleUsers(q),
      grantsOf: (id, expand) => control.grantsOf(id, expand),
      tokensOf: (id) => control.tokensOf(id),
      user: (id) => control.user(id),
      setUserStatus: (id, status) => control.setUserStatus(id, status, now()),
      revokeGrant: (id, grantId) => control.revokeGrant(id, grantId),
      directory: () => control.directory(),
      reset: () => control.reset(),
    },
    log: { snapshot: () => control.snapshotLog(), reset: () => control.resetLog(), requests: () => log.requests() },
    configure: (p) => control.configure(p),
    config: () => control.currentConfig(),
    setPrincipalRateLimit: (clientId, percent) => {
      if (percent !== null && !(Number.isInteger(percent) && percent >= 1 && percent <= 100)) throw new SimOptionsError(`percent: expected an integer 1..100 or null, got ${percent}`);
      if (percent === null) principalLimits.delete(clientId);
      else principalLimits.set(clientId, percent);
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Closes idle keep-alive sockets too, so close() does not wait for clients to hang up. */
function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((e) => (e ? reject(e) : resolve()));
    server.closeAllConnections();
  });
}
