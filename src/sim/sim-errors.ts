import { uniqueId } from './hash.ts';

/** Options or a runtime change the simulator refuses (at start, from a test, or from its /sim/config endpoint: a 400). */
export class SimOptionsError extends Error {}

/* Okta's ModelError bodies (docs/okta-api.md §2) and the OAuth error form used by /oauth2/v1/token. */

export interface SimResponse {
  status: number;
  /** Serialised JSON, or undefined for an empty body (204). */
  body?: string;
  headers?: Record<string, string | string[]>;
}

export function modelError(status: number, errorCode: string, errorSummary: string, causes: string[] = []): SimResponse {
  return {
    status,
    body: JSON.stringify({
      errorCode,
      errorSummary,
      errorLink: errorCode,
      errorId: uniqueId('oae'),
      errorCauses: causes.map((c) => ({ errorSummary: c })),
    }),
  };
}

export const notFound = (value: string, type: string) => modelError(404, 'E0000007', `Not found: Resource not found: ${value} (${type})`);
export const validationFailed = (field: string, cause: string) =>
  modelError(400, 'E0000001', `Api validation failed: ${field}`, [`${field}: ${cause}`]);
export const invalidSearch = (cause?: string) => modelError(400, 'E0000031', 'Invalid search criteria.', cause ? [cause] : []);
export const invalidToken = () => modelError(401, 'E0000011', 'Invalid token provided');
export const forbidden = () => modelError(403, 'E0000006', 'You do not have permission to perform the requested action');
export const unknownPath = () => modelError(404, 'E0000008', 'The requested path was not found');
export const badMethod = () => modelError(405, 'E0000022', 'The endpoint does not support the provided HTTP method');
export const tooManyRequests = () => modelError(429, 'E0000047', 'API call exceeded rate limit due to too many requests.');
export const serverError = (status: 500 | 503) =>
  modelError(status, 'E0000009', status === 500 ? 'Internal Server Error' : 'Service Unavailable');

export function oauthError(status: number, error: string, description: string): SimResponse {
  return { status, body: JSON.stringify({ error, error_description: description }) };
}

export function json(status: number, value: unknown, headers?: Record<string, string | string[]>): SimResponse {
  return headers ? { status, body: JSON.stringify(value), headers } : { status, body: JSON.stringify(value) };
}

export const noContent = (): SimResponse => ({ status: 204 });
