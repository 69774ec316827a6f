import type { RequestCtx } from './context.ts';
import { invalidSearch, json, type SimResponse } from './sim-errors.ts';

/**
 * GET /api/v1/principal-rate-limits?filter=principalType eq "OAUTH_CLIENT" (docs/okta-api.md §4.4):
 * the OAuth apps given a share of their own. Okta requires the principalType filter (UNCONFIRMED:
 * its exact grammar; this accepts the one form grantsweep sends). API tokens' entities are
 * never listed here: their principal id is the token's id, which a token cannot learn.
 */
export function listPrincipalRateLimits(ctx: RequestCtx): SimResponse {
  const filter = ctx.query.get('filter') ?? '';
  const m = /^principalType eq "(OAUTH_CLIENT|SSWS_TOKEN)"$/.exec(filter);
  if (!m) return invalidSearch('filter: expected principalType eq "OAUTH_CLIENT" or "SSWS_TOKEN"');
  if (m[1] !== 'OAUTH_CLIENT') return json(200, []);
  return json(
    200,
    [...ctx.sim.principalLimits].map(([clientId, pct], i) => ({
      id: `0prl${String(i).padStart(16, '0')}`,
      orgId: '00o1sim0000000000000',
      principalId: clientId,
      principalType: 'OAUTH_CLIENT',
      defaultPercentage: pct,
      defaultConcurrencyPercentage: pct,
      createdDate: '2026-01-01T00:00:00.000Z',
      lastUpdate: '2026-01-01T00:00:00.000Z',
    })),
  );
}
