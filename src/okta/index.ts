export { ApiTokenAuth, PrivateKeyJwtAuth, type OktaAuth, type PrivateKeyJwtOptions } from './auth.ts';
export { bucketFor, OktaClient, type ListGrantsOptions, type OktaClientOptions, type RequestContext } from './client.ts';
export {
  classify,
  errorFromResponse,
  isUserNotFound,
  OktaApiError,
  OktaNetworkError,
  OktaResponseError,
  type HttpMethod,
  type OktaErrorKind,
} from './errors.ts';
export { createTransport, type Transport, type TransportRequest, type TransportResponse } from './http.ts';
export { parseOrgUrl } from './org-url.ts';
export { InvalidIdError, pathSegment, validatePathId, type IdKind } from './ids.ts';
export { nextLink } from './link-header.ts';
export { MAX_RESET_DELAY_MS, parseRateHeaders, resetDelayMs } from './rate-headers.ts';
export { backoffMs, retryDelayMs, RETRY_POLICY, type RetryRule } from './retry-policy.ts';
export type * from './types.ts';
