import { randomBytes } from 'node:crypto';
import { secureBase62 } from './hash.ts';

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
}

/** An Okta-looking SSWS token: 42 chars starting `00`. */
export function newApiToken(): string {
  return `00${secureBase62(40, randomBytes(40))}`;
}

export class AuthRegistry {
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly admin: Principal = { label: 'token', scopes: null, canDelete: true };
  private readonly readOnly: Principal = { label: 'readOnlyToken', scopes: null, canDelete: false };

  constructor(
    readonly token: string,
    readonly readOnlyToken: string,
    private readonly now: () => number,
  ) {}

  /** The caller, or null when the Authorization header is missing or not accepted. */
  identify(header: string | undefined): Principal | null {
    if (!header) return null;
    if (header.startsWith('SSWS ')) {
      const t = header.slice(5);
      if (t === this.token) return this.admin;
      if (t === this.readOnlyToken) return this.readOnly;
      return null;
    }
    // A DPoP-scheme header is not accepted: no simulated client is DPoP-bound.
    if (header.startsWith('Bearer ')) {
      const at = this.accessTokens.get(header.slice(7));
      if (!at) return null;
      if (at.expiresAt <= this.now()) {
        this.accessTokens.delete(header.slice(7));
        return null;
      }
      return { label: `oauth:${at.clientId}`, scopes: at.scopes, canDelete: at.scopes.has('okta.users.manage') };
    }
    return null;
  }

  /** Whether the principal may call a route that needs `scope` (manage implies read for users). */
  allows(p: Principal, method: string, scope: string): boolean {
    if (method === 'DELETE' && !p.canDelete) return false;
    if (p.scopes === null) return true;
    if (p.scopes.has(scope)) return true;
    return scope === 'okta.users.read' && p.scopes.has('okta.users.manage');
  }

  mint(clientId: string, scopes: string[], ttlSec: number): string {
    const token = `eyJsim.${secureBase62(64, randomBytes(64))}`;
    this.accessTokens.set(token, { clientId, scopes: new Set(scopes), expiresAt: this.now() + ttlSec * 1000 });
    return token;
  }
}
