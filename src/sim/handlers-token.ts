import type { RequestCtx } from './context.ts';
import type { SimResponse } from './sim-errors.ts';

/** POST /oauth2/v1/token; the audience an assertion must name is this sim's own URL. */
export function handleToken(ctx: RequestCtx): Promise<SimResponse> {
  return ctx.sim.tokens.handle(ctx.body, `${ctx.sim.base}/oauth2/v1/token`);
}
