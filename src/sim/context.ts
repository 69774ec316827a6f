import type { RuntimeConfig } from './options.ts';
import type { SimOrg } from './org.ts';
import type { SimResponse } from './sim-errors.ts';
import type { TokenEndpoint } from './token-endpoint.ts';

/** What a route handler gets: the org, the base URL for absolute links, and the parsed request. */
export interface SimContext {
  org: SimOrg;
  base: string;
  config: () => RuntimeConfig;
  tokens: TokenEndpoint;
  /** OAuth apps with a principal rate limit: client id → percentage of each bucket. */
  principalLimits: ReadonlyMap<string, number>;
}

export interface RequestCtx {
  sim: SimContext;
  method: string;
  path: string;
  query: URLSearchParams;
  /** Decoded path parameters in template order. */
  params: string[];
  body: string;
  /** The request's headers (names in lower case). */
  headers: Record<string, string | string[] | undefined>;
}

export type Handler = (ctx: RequestCtx) => SimResponse | Promise<SimResponse>;
