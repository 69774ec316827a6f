import type { RateInfo } from './types.ts';

/** What the caller should do about a failure; the retry policy is keyed by it. */
export type OktaErrorKind =
  | 'rate_limited'
  | 'concurrency_limited'
  | 'not_found'
  | 'forbidden'
  | 'unauthorized'
  | 'invalid_request'
  | 'transient'
  /** A proxy between us and Okta turned the tunnel down with a 4xx (407: its credentials). */
  | 'proxy_refused'
  | 'other';

export type HttpMethod = 'GET' | 'DELETE' | 'POST';

/** OAuth token-endpoint codes that mean "these credentials are not accepted". */
const TOKEN_AUTH_CODES = new Set(['invalid_client', 'unauthorized_client', 'invalid_grant']);

export function classify(status: number, errorCode: string | null, rate: RateInfo | null): OktaErrorKind {
  if (status === 429) return rate?.concurrency ? 'concurrency_limited' : 'rate_limited';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 400) {
    // The token endpoint answers bad client credentials with 400 invalid_client or
    // invalid_grant, and a scope the app was never granted with 400 invalid_scope.
    if (errorCode !== null && TOKEN_AUTH_CODES.has(errorCode)) return 'unauthorized';
    if (errorCode === 'invalid_scope') return 'forbidden';
    return 'invalid_request';
  }
  if (status >= 500 || status === 408) return 'transient';
  return 'other';
}

/** `/api/v1/users/x` from a URL or path: the query may hold search expressions (emails). */
export function pathOnly(urlOrPath: string): string {
  try {
    return new URL(urlOrPath).pathname;
  } catch {
    return urlOrPath.split(/[?#]/, 1)[0] ?? '';
  }
}

export interface OktaApiErrorInit {
  status: number;
  errorCode: string | null;
  errorSummary: string;
  errorId: string | null;
  errorCauses: Array<{ errorSummary: string }>;
  rate: RateInfo | null;
  method: HttpMethod;
  /** A URL or a path; only the path is kept. */
  url: string;
}

/**
 * A non-2xx answer from Okta. Holds what the response said and which request it was,
 * never the request's headers (they carry the credential).
 */
export class OktaApiError extends Error {
  readonly status: number;
  readonly errorCode: string | null;
  readonly errorSummary: string;
  readonly errorId: string | null;
  readonly errorCauses: Array<{ errorSummary: string }>;
  readonly requestId: string | null;
  readonly kind: OktaErrorKind;
  readonly rate: RateInfo | null;
  readonly method: HttpMethod;
  readonly path: string;

  constructor(init: OktaApiErrorInit) {
    const path = pathOnly(init.url);
    const code = init.errorCode === null ? '' : ` ${init.errorCode}`;
    super(`Okta HTTP ${init.status}${code} ${init.errorSummary} (${init.method} ${path})`);
    this.name = 'OktaApiError';
    this.status = init.status;
    this.errorCode = init.errorCode;
    this.errorSummary = init.errorSummary;
    this.errorId = init.errorId;
    this.errorCauses = init.errorCauses;
    this.requestId = init.rate?.requestId ?? null;
    this.kind = classify(init.status, init.errorCode, init.rate);
    this.rate = init.rate;
    this.method = init.method;
    this.path = path;
  }
}

/**
 * Codes that say no Okta answers at the org URL (or none with a certificate we trust): the
 * connection was never made, so the request cannot have reached Okta.
 */
const UNREACHABLE = /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME_INVALID)/;

/** The request never got an HTTP answer (timeout, reset, refused): worth retrying. */
export class OktaNetworkError extends Error {
  /** Transient, unless a proxy refused the tunnel (code PROXY_4xx): asking again cannot help then. */
  readonly kind: 'transient' | 'proxy_refused';
  readonly path: string;
  constructor(
    readonly code: string,
    readonly method: HttpMethod,
    url: string,
    detail?: string,
  ) {
    const path = pathOnly(url);
    super(`Okta request failed: ${method} ${path}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'OktaNetworkError';
    this.path = path;
    this.kind = this.proxyRefusal === null ? 'transient' : 'proxy_refused';
  }

  /** The proxy's 4xx for the tunnel (407: its credentials; 403: Okta not allowed), else null. */
  get proxyRefusal(): number | null {
    const m = /^PROXY_(4\d\d)$/.exec(this.code);
    return m ? Number(m[1]) : null;
  }

  /** Whether no Okta answers at the address (refused, unknown host, untrusted certificate), as opposed to one that answered slowly or dropped a connection. */
  get unreachable(): boolean {
    return UNREACHABLE.test(this.code);
  }

  /** Whether the request cannot have reached Okta: its connection failed, or the proxy refused the tunnel. */
  get neverSent(): boolean {
    return this.proxyRefusal !== null || this.unreachable || this.code === 'UND_ERR_CONNECT_TIMEOUT';
  }

  /** What the operator must fix, for a proxy_refused error (a halted run's reason, the CLI's message). */
  get proxyHint(): string {
    const status = this.proxyRefusal;
    return `the proxy refused the tunnel to Okta (HTTP ${status}${status === 407 ? ': its credentials' : ''}): check HTTPS_PROXY / HTTP_PROXY`;
  }
}

/**
 * Whether Okta may have carried out a request that failed: it was sent and no answer came
 * back (a reset, a timeout), or the answer was a 5xx. A 4xx (a 429 above all) and a failure
 * before the request left say it did not. Unknown errors count as "may have".
 */
export function mayHaveActed(err: unknown): boolean {
  if (err instanceof OktaApiError) return err.status >= 500;
  if (err instanceof OktaNetworkError) return !err.neverSent;
  return !(err instanceof NotOktaError);
}

/**
 * Okta answered 2xx but the answer is unusable (not JSON, not a list of objects, a next link
 * to a foreign origin, a listing going round). A worker tries the target again, as after a
 * 5xx, then fails it with BAD_RESPONSE; a command ends with exit 3.
 */
export class OktaResponseError extends Error {
  readonly kind = 'other' as const;
  readonly path: string;
  constructor(
    message: string,
    readonly method: HttpMethod,
    url: string,
  ) {
    const path = pathOnly(url);
    super(`${message} (${method} ${path})`);
    this.name = 'OktaResponseError';
    this.path = path;
  }
}

/**
 * An answer no Okta org gives: an HTML page, a body that is not JSON on a 2xx, a 4xx without
 * Okta's error object. OKTA_ORG_URL names a web server, a proxy's sign-in page or the wrong
 * host, and taking its 200 for a revocation, or its 404 for "nothing to revoke", would write
 * an audit trail of revocations that never happened. Nothing is retried: the run halts.
 */
export class NotOktaError extends Error {
  readonly kind = 'not_okta' as const;
  constructor(
    readonly status: number,
    contentType: string | null,
    readonly method: HttpMethod,
    url: string,
  ) {
    const u = new URL(url);
    super(
      `${u.origin} answered ${method} ${u.pathname} with HTTP ${status}${contentType ? ` (${contentType.split(';')[0]})` : ''}, ` +
        'which is not an Okta API response: check that OKTA_ORG_URL is the org (https://<org>.okta.com) and that nothing in between answers for it',
    );
    this.name = 'NotOktaError';
  }
}

const isJsonType = (contentType: string | null) => contentType !== null && /\bjson\b/i.test(contentType);

/**
 * Whether a response could be Okta's. Okta stamps every response with X-Okta-Request-Id, and
 * one that has it is taken as Okta's. Without it: a 2xx is empty or JSON; a 3xx or 4xx other
 * than 429 carries Okta's error object ({errorCode}) or OAuth's ({error}). 5xx and 429 may come
 * from a load balancer on Okta's side and are judged by their status (retried, or paused on).
 */
export function looksLikeOkta(status: number, contentType: string | null, body: string, requestId: string | null): boolean {
  if (requestId) return true;
  if (status >= 200 && status < 300) return body.trim() === '' || isJsonType(contentType);
  if (status >= 500 || status === 429) return true;
  // A redirect (to a sign-in page) or a 4xx: Okta's API sends neither without its error object.
  try {
    const json = JSON.parse(body) as Record<string, unknown> | null;
    return json !== null && typeof json === 'object' && (typeof json.errorCode === 'string' || typeof json.error === 'string');
  } catch {
    return false;
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/**
 * Builds the error for a non-2xx response. Reads Okta's ModelError
 * ({errorCode, errorSummary, errorId, errorCauses}) and the token endpoint's OAuth form
 * ({error, error_description}). Any other body is ignored (it may be an HTML page from a
 * proxy) and the status alone decides.
 */
export function errorFromResponse(args: {
  status: number;
  body: string;
  rate: RateInfo | null;
  method: HttpMethod;
  url: string;
}): OktaApiError {
  let parsed: Record<string, unknown> = {};
  try {
    const json: unknown = JSON.parse(args.body);
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) parsed = json as Record<string, unknown>;
  } catch {
    // not JSON: classified by status below
  }
  const errorCode = str(parsed.errorCode) ?? str(parsed.error);
  const errorSummary =
    str(parsed.errorSummary) ?? str(parsed.error_description) ?? str(parsed.error) ?? `HTTP ${args.status}`;
  const causes = Array.isArray(parsed.errorCauses) ? parsed.errorCauses : [];
  return new OktaApiError({
    status: args.status,
    errorCode,
    errorSummary,
    errorId: str(parsed.errorId),
    errorCauses: causes
      .map((c: unknown) => str((c as { errorSummary?: unknown } | null)?.errorSummary))
      .filter((s): s is string => s !== null)
      .map((errorSummary) => ({ errorSummary })),
    rate: args.rate,
    method: args.method,
    url: args.url,
  });
}

/**
 * True for Okta's "Not found: Resource not found: <id> (User)". UNCONFIRMED: that text is
 * documented for GET /api/v1/users/{id} only; what the grant endpoints say for an unknown
 * user (vs an unknown grant) is not. A false here means "some 404", so callers must
 * treat a plain 404 on revoke as "already gone" anyway.
 */
export function isUserNotFound(err: unknown): boolean {
  return err instanceof OktaApiError && err.status === 404 && /\(User\)\s*$/.test(err.errorSummary);
}
