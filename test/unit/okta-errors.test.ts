import { describe, expect, it } from 'vitest';
import {
  classify,
  errorFromResponse,
  isUserNotFound,
  looksLikeOkta,
  mayHaveActed,
  NotOktaError,
  OktaApiError,
  OktaNetworkError,
  type OktaErrorKind,
} from '../../src/okta/errors.ts';
import type { RateInfo } from '../../src/okta/types.ts';

const rate = (over: Partial<RateInfo> = {}): RateInfo => ({
  limit: 600,
  remaining: 0,
  resetAt: 1_800_000_000_000,
  date: 1_799_999_970_000,
  requestId: 'reqABC',
  concurrency: false,
  resetDuplicated: false,
  ...over,
});

const URL_WITH_QUERY = 'https://org.example.com/api/v1/users?search=profile.email%20eq%20%22a%40b.c%22&limit=200';

describe('classify', () => {
  it.each<[number, OktaErrorKind]>([
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [400, 'invalid_request'],
    [408, 'transient'],
    [500, 'transient'],
    [502, 'transient'],
    [503, 'transient'],
    [504, 'transient'],
    [405, 'other'],
    [409, 'other'],
    [302, 'other'],
  ])('HTTP %i → %s', (status, kind) => {
    expect(classify(status, null, null)).toBe(kind);
  });

  it('tells a concurrency 429 from a per-minute 429 by the rate info', () => {
    expect(classify(429, 'E0000047', rate())).toBe('rate_limited');
    expect(classify(429, 'E0000047', rate({ limit: 0, concurrency: true }))).toBe('concurrency_limited');
    expect(classify(429, null, null)).toBe('rate_limited');
  });

  it('treats token-endpoint credential errors as unauthorized and a missing scope as forbidden', () => {
    expect(classify(400, 'invalid_client', null)).toBe('unauthorized');
    expect(classify(400, 'invalid_grant', null)).toBe('unauthorized');
    expect(classify(401, 'invalid_client', null)).toBe('unauthorized');
    expect(classify(400, 'invalid_scope', null)).toBe('forbidden');
    expect(classify(400, 'E0000001', null)).toBe('invalid_request');
  });
});

describe('errorFromResponse', () => {
  it('reads an Okta ModelError body', () => {
    const body = JSON.stringify({
      errorCode: 'E0000007',
      errorSummary: 'Not found: Resource not found: missing@example.com (User)',
      errorLink: 'E0000007',
      errorId: 'oaewgzWY_IaSs6G8Cf2TzzIsA',
      errorCauses: [{ errorSummary: 'cause one' }, { nonsense: 1 }],
    });
    const err = errorFromResponse({ status: 404, body, rate: rate({ requestId: 'req404' }), method: 'GET', url: URL_WITH_QUERY });
    expect(err).toBeInstanceOf(OktaApiError);
    expect(err).toMatchObject({
      status: 404,
      kind: 'not_found',
      errorCode: 'E0000007',
      errorId: 'oaewgzWY_IaSs6G8Cf2TzzIsA',
      errorCauses: [{ errorSummary: 'cause one' }],
      requestId: 'req404',
      method: 'GET',
      path: '/api/v1/users',
    });
    expect(err.message).toBe(
      'Okta HTTP 404 E0000007 Not found: Resource not found: missing@example.com (User) (GET /api/v1/users)',
    );
  });

  it('never keeps the query string (it may hold emails) in path or message', () => {
    const err = errorFromResponse({ status: 400, body: '{}', rate: null, method: 'GET', url: URL_WITH_QUERY });
    expect(err.path).toBe('/api/v1/users');
    expect(err.message).not.toContain('search');
    expect(JSON.stringify(err)).not.toContain('search');
  });

  it('classifies a non-JSON body by status alone', () => {
    const err = errorFromResponse({ status: 502, body: '<html>Bad gateway</html>', rate: null, method: 'DELETE', url: '/api/v1/users/00u1/grants' });
    expect(err).toMatchObject({ status: 502, kind: 'transient', errorCode: null, errorSummary: 'HTTP 502', errorCauses: [] });
    expect(err.message).not.toContain('html');
  });

  it('classifies an empty body by status alone', () => {
    const err = errorFromResponse({ status: 403, body: '', rate: null, method: 'GET', url: '/api/v1/users/00u1/grants' });
    expect(err).toMatchObject({ kind: 'forbidden', errorCode: null, errorSummary: 'HTTP 403', errorId: null, requestId: null });
  });

  it('reads the OAuth {error, error_description} form of the token endpoint', () => {
    const body = JSON.stringify({ error: 'invalid_client', error_description: 'No client credentials found.' });
    const err = errorFromResponse({ status: 401, body, rate: null, method: 'POST', url: 'https://org.example.com/oauth2/v1/token' });
    expect(err).toMatchObject({ kind: 'unauthorized', errorCode: 'invalid_client', errorSummary: 'No client credentials found.' });
  });

  it('keeps the 429 rate info so the caller can wait until Reset', () => {
    const r = rate({ limit: 0, concurrency: true });
    const err = errorFromResponse({ status: 429, body: '{"errorCode":"E0000047"}', rate: r, method: 'GET', url: '/x' });
    expect(err.kind).toBe('concurrency_limited');
    expect(err.rate).toBe(r);
  });
});

describe('looksLikeOkta', () => {
  const json = 'application/json; charset=utf-8';
  it("takes any answer stamped with X-Okta-Request-Id as Okta's", () => {
    expect(looksLikeOkta(200, 'text/html', '<html>', 'reqAbc')).toBe(true);
    expect(looksLikeOkta(404, null, '', 'reqAbc')).toBe(true);
  });
  it('without it: a 2xx empty or JSON, a 3xx or 4xx with Okta\'s or OAuth\'s error object', () => {
    expect(looksLikeOkta(204, null, '', null)).toBe(true);
    expect(looksLikeOkta(200, json, '[]', null)).toBe(true);
    expect(looksLikeOkta(200, 'text/html', '<html>Sign in</html>', null)).toBe(false);
    expect(looksLikeOkta(404, json, '{"errorCode":"E0000007","errorSummary":"Not found"}', null)).toBe(true);
    expect(looksLikeOkta(401, json, '{"error":"invalid_client"}', null)).toBe(true);
    expect(looksLikeOkta(404, 'text/html', '<html>Not Found</html>', null)).toBe(false);
    expect(looksLikeOkta(302, 'text/html', '', null)).toBe(false);
    expect(looksLikeOkta(403, json, '{"message":"forbidden"}', null)).toBe(false);
  });
  it('judges 5xx and 429 by their status: a load balancer in front of Okta answers those', () => {
    expect(looksLikeOkta(502, 'text/html', '<html>Bad Gateway</html>', null)).toBe(true);
    expect(looksLikeOkta(429, null, '', null)).toBe(true);
  });
});

describe('isUserNotFound', () => {
  const notFound = (summary: string, status = 404) =>
    errorFromResponse({ status, body: JSON.stringify({ errorCode: 'E0000007', errorSummary: summary }), rate: null, method: 'GET', url: '/x' });

  it('is true only for a 404 whose summary ends with "(User)"', () => {
    expect(isUserNotFound(notFound('Not found: Resource not found: 00u1 (User)'))).toBe(true);
    expect(isUserNotFound(notFound('Not found: Resource not found: oag1 (OAuth2ScopeConsentGrant)'))).toBe(false);
    expect(isUserNotFound(notFound('Not found: Resource not found: 00u1 (User)', 400))).toBe(false);
    expect(isUserNotFound(new Error('(User)'))).toBe(false);
  });
});

describe('OktaNetworkError', () => {
  it('is transient and names the code, method and path without the query', () => {
    const err = new OktaNetworkError('ECONNRESET', 'GET', URL_WITH_QUERY, 'other side closed');
    expect(err).toMatchObject({ kind: 'transient', code: 'ECONNRESET', method: 'GET', path: '/api/v1/users' });
    expect(err.message).toBe('Okta request failed: GET /api/v1/users: ECONNRESET (other side closed)');
  });
});

describe('mayHaveActed', () => {
  const answered = (status: number) =>
    errorFromResponse({ status, body: '{"errorCode":"E0000047","errorSummary":"x"}', rate: rate(), method: 'DELETE', url: 'https://org.example.com/api/v1/users/u/grants' });
  it('is false for an answer that refused (4xx, a 429 above all) and for a request that never left', () => {
    for (const s of [400, 403, 404, 429]) expect(mayHaveActed(answered(s)), String(s)).toBe(false);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT', 'PROXY_407']) {
      expect(mayHaveActed(new OktaNetworkError(code, 'DELETE', 'https://org.example.com/api/v1/users/u/grants')), code).toBe(false);
    }
    expect(mayHaveActed(new NotOktaError(200, 'text/html', 'DELETE', 'https://org.example.com/api/v1/users/u/grants'))).toBe(false);
  });
  it('is true for a 5xx, an answer lost after sending, and an error it does not know', () => {
    for (const s of [500, 502, 503]) expect(mayHaveActed(answered(s)), String(s)).toBe(true);
    for (const code of ['ECONNRESET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_SOCKET', 'UNKNOWN']) {
      expect(mayHaveActed(new OktaNetworkError(code, 'DELETE', 'https://org.example.com/api/v1/users/u/grants')), code).toBe(true);
    }
    expect(mayHaveActed(new Error('?'))).toBe(true);
  });
});
