// Chat tickets: the key pair the workbench's IbalXBlock signs them with and the gateway verifies
// them with (made per run, never written to disk), and a reader of a ticket's claims for the checks.
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';

/** The LMS root URL the tickets name as `iss`; the workbench has none of its own. */
export const TICKET_ISSUER = 'https://lms.e2e.example';

/**
 * A fresh RSA-2048 key pair. `workbenchEnv()` is what the XBlock needs to sign (the private key as
 * PEM), `gatewayEnv()` what the gateway needs to verify (the public key as a JWK set); both name
 * the same `kid` and issuer.
 */
export function makeTicketKeys({ issuer = TICKET_ISSUER, kid = `e2e-${Date.now().toString(36)}` } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const { n, e } = publicKey.export({ format: 'jwk' });
  const jwks = JSON.stringify({ keys: [{ kty: 'RSA', kid, alg: 'RS256', use: 'sig', n, e }] });
  return {
    issuer,
    kid,
    jwks,
    /** Lines of the private key's body: no log may ever hold one. */
    privateKeyLines: privatePem.split('\n').filter((l) => l && !l.startsWith('-----')),
    workbenchEnv() {
      return { TICKET_PRIVATE_KEY: privatePem, TICKET_KEY_ID: kid, TICKET_ISSUER: issuer };
    },
    gatewayEnv() {
      return { TICKET_JWKS: jwks, TICKET_ISSUER: issuer };
    },
    /**
     * A ticket the LMS would mint for `username` at `gatewayUrl` (its origin is the audience), with
     * `claims` over the defaults: as another course's block would, for instance.
     */
    sign(gatewayUrl, username, claims) {
      const now = Math.floor(Date.now() / 1000);
      const body = {
        iss: issuer,
        aud: new URL(gatewayUrl).origin,
        sub: `sub-${username}`,
        preferred_username: username,
        role: 'learner',
        iat: now,
        exp: now + 300,
        jti: randomUUID(),
        ...claims,
      };
      const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const input = `${part({ alg: 'RS256', kid, typ: 'JWT' })}.${part(body)}`;
      const signature = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
      return `${input}.${signature}`;
    },
  };
}

/** The header and claims of a compact JWS (not verified: the gateway does that). */
export function readTicket(ticket) {
  const [header, payload, signature] = String(ticket).split('.');
  if (!header || !payload || !signature) throw new Error('not a compact JWS');
  const part = (p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  return { header: part(header), claims: part(payload) };
}
