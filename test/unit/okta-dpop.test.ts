import { createHash } from 'node:crypto';
import { decodeProtectedHeader, EmbeddedJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { asksForDpopNonce, dpopNonceOf, DpopProver } from '../../src/okta/dpop.ts';

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

describe('DPoP proofs (RFC 9449)', () => {
  const prover = new DpopProver(() => NOW);

  it('verify with the public key in their own header (jose EmbeddedJWK), as typ dpop+jwt, ES256', async () => {
    const proof = prover.proof('DELETE', 'https://example.okta.com/api/v1/users/00u1/grants');
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'], currentDate: new Date(NOW) });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.jwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(protectedHeader.jwk).not.toHaveProperty('d');
    expect(payload).toMatchObject({ htm: 'DELETE', htu: 'https://example.okta.com/api/v1/users/00u1/grants', iat: NOW / 1000 });
    expect(payload).not.toHaveProperty('ath');
    expect(payload).not.toHaveProperty('nonce');
  });

  it('name the URL without its query or fragment, and are never reused (a new jti each)', async () => {
    const a = prover.proof('GET', 'https://example.okta.com/api/v1/users?limit=200&after=x#y');
    const b = prover.proof('GET', 'https://example.okta.com/api/v1/users?limit=200&after=x#y');
    const pa = (await jwtVerify(a, EmbeddedJWK, { currentDate: new Date(NOW) })).payload;
    const pb = (await jwtVerify(b, EmbeddedJWK, { currentDate: new Date(NOW) })).payload;
    expect(pa.htu).toBe('https://example.okta.com/api/v1/users');
    expect(pa.jti).not.toBe(pb.jti);
  });

  it("carry the access token's SHA-256 (ath) and the server's nonce when given", async () => {
    const token = 'eyJraWQiOiJ0ZXN0In0.access.token';
    const proof = prover.proof('GET', 'https://example.okta.com/api/v1/users/00u1', { accessToken: token, nonce: 'n-123' });
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { currentDate: new Date(NOW) });
    expect(payload.ath).toBe(createHash('sha256').update(token).digest('base64url'));
    expect(payload.nonce).toBe('n-123');
    expect(proof).not.toContain(token);
  });

  it('use one key per prover, and a different one per prover', () => {
    const jwk = (p: string) => JSON.stringify(decodeProtectedHeader(p).jwk);
    expect(jwk(prover.proof('GET', 'https://a.example/x'))).toBe(jwk(prover.proof('POST', 'https://a.example/y')));
    expect(jwk(new DpopProver().proof('GET', 'https://a.example/x'))).not.toBe(jwk(prover.proof('GET', 'https://a.example/x')));
    expect(JSON.stringify(prover)).toBe('{"kind":"dpop"}');
  });

  it("read a server's nonce and its 401 asking for it", () => {
    expect(dpopNonceOf({ 'dpop-nonce': 'abc' })).toBe('abc');
    expect(dpopNonceOf({ 'dpop-nonce': ['abc', 'def'] })).toBe('abc');
    expect(dpopNonceOf({})).toBeNull();
    expect(asksForDpopNonce({ 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'abc' })).toBe(true);
    expect(asksForDpopNonce({ 'www-authenticate': 'DPoP error="invalid_token"', 'dpop-nonce': 'abc' })).toBe(false);
    expect(asksForDpopNonce({ 'www-authenticate': 'DPoP error="use_dpop_nonce"' })).toBe(false);
  });
});
