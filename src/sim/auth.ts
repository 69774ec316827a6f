import { randomBytes } from 'node:crypto';
import { checkDpopProof, PROOF_JTI_KEEP_MS } from './dpop.ts';
import { secureBase62 } from './hash.ts';
import { ReplayGuard } from './replay-guard.ts';

/**
 * Who is calling: the admin SSWS token, the read-only SSWS token, or a Bearer
 * access token minted by /oauth2/v1/token. Labels (never the secrets) name the
 * principal in the request log and key the per-token rate share.
 */

export const OKTA_SCOPES = ['okta.users.read', 'okta.users.manage', 'okta.groups.read', 'okta.apps.read'] as const;

export interface Principal {
  label: string;
  /** SSWS tokens act with their admin's permissions; null means "all scopes". */
  scopes: ReadonlySet<string> | null;
  canDelete: boolean;
}

interface AccessToken {
  clientId: string;
  scopes: Set<string>;
  expiresAt: number;
  /** The thumbprint of the key a DPoP-bound token is bound to. */
  jkt: string | null;
}

/** What a DPoP-bound token's request must prove: its proof header, method and URL (no query). */
export interface RequestProof {
  proof: string | string[] | undefined;
  htm: string;
  htu: string;
}

/** An Okta-looking SSWS token: 42 chars starting `00`. */
export function newApiToken(): string {
  return `00${secureBase62(40, randomBytes(40))}`;
}

export class AuthRegistry {
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly admin: Principal = { label: 'token', scopes: null, canDelete: true };
  private readonly readOnly: Principal = { label: 'readOnlyToken', scopes: null, canDelete: false };
  /** DPoP proofs' jti values accepted at the API. */
  private readonly proofs = new ReplayGuard();

  constructor(
    readonly token: string,
    readonly readOnlyToken: string,
    private readonly now: () => number,
  ) {}

  /** The caller, or null when the Authorization header (or a DPoP-bound token's proof) is missing or not accepted. */
  identify(header: string | undefined, req?: RequestProof): Principal | null {
    if (!header) return null;
    if (header.startsWith('SSWS ')) {
      const t = header.slice(5);
      if (t === this.token) return this.admin;
      if (t === this.readOnlyToken) return this.readOnly;
      return null;
    }
    const scheme = header.startsWith('Bearer ') ? 'Bearer' : header.startsWith('DPoP ') ? 'DPoP' : null;
    if (!scheme) return null;
    const token = header.slice(scheme.length + 1);
    const at = this.accessTokens.get(token);
    if (!at) return null;
    if (at.expiresAt <= this.now()) {
      this.accessTokens.delete(token);
      return null;
    }
    // A DPoP-bound token goes only with the DPoP scheme and a proof by its key; a Bearer one only as Bearer.
    if ((at.jkt !== null) !== (scheme === 'DPoP')) return null;
    if (at.jkt !== null) {
      const proof = Array.isArray(req?.proof) ? undefined : req?.proof;
      const checked = req ? checkDpopProof(proof, { htm: req.htm, htu: req.htu, nowMs: this.now(), accessToken: token }) : null;
      if (!checked?.ok || checked.jkt !== at.jkt || this.proofs.seenBefore(checked.jti, this.now(), this.now() + PROOF_JTI_KEEP_MS)) return null;
    }
    return { label: `oauth:${at.clientId}`, scopes: at.scopes, canDelete: at.scopes.has('okta.users.manage') };
  }

  /** Whether the principal may call a route that needs `scope` (manage implies read for users). */
  allows(p: Principal, method: string, scope: string): boolean {
    if (method === 'DELETE' && !p.canDelete) return false;
    if (p.scopes === null) return true;
    if (p.scopes.has(scope)) return true;
    return scope === 'okta.users.read' && p.scopes.has('okta.users.manage');
  }

  /** An access token; `jkt` binds it to a DPoP key. */
  mint(clientId: string, scopes: string[], ttlSec: number, jkt: string | null = null): string {
    const token = `eyJsim.${secureBase62(64, randomBytes(64))}`;
    this.accessTokens.set(token, { clientId, scopes: new Set(scopes), expiresAt: this.now() + ttlSec * 1000, jkt });
    return token;
  }
}
