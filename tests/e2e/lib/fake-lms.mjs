// A fake Open edX LMS, in-process, speaking what the gateway uses of edx-platform's oauth_dispatch
// (django-oauth-toolkit underneath):
//
//   GET  /oauth2/authorize      response_type=code, client_id, redirect_uri (must be the registered
//                               one), state, code_challenge + code_challenge_method=S256, scope. The
//                               learner is already logged in and the application skips authorization,
//                               so it redirects straight back with a one-time `code` and the `state`.
//                               Which learner: the cookie `fake_lms_user` on this origin (default alice).
//   POST /oauth2/access_token   grant_type=authorization_code, code, redirect_uri, client_id +
//                               client_secret (form or HTTP Basic), code_verifier (checked against
//                               the challenge), token_type=jwt, asymmetric_jwt=1 → an RS512 JWT
//                               without `kid`, as JwtBuilder makes it.
//   GET  /api/user/v1/me        Authorization: JWT <token> → {"username"}
//   GET  /api/user/v1/accounts/{username}
//   GET  /heartbeat
//
// The RSA key is made at start; `jwks` is its public half as Tutor renders it (kid "openedx").
import { createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import http from 'node:http';

const CODE_TTL_MS = 60_000; // DOT's AUTHORIZATION_CODE_EXPIRE_SECONDS default

export const USERS = {
  alice: {
    username: 'alice',
    anonymous_id: 'f3a9c2d1e0b4a7c65d8e9f0a1b2c3d4e',
    email: 'alice@example.com',
    name: 'Alice Martin',
  },
  bob: {
    username: 'bob',
    anonymous_id: '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e',
    email: 'bob@example.com',
    name: 'Bob Nguyen',
  },
  carol: {
    username: 'carol',
    anonymous_id: '7d6c5b4a39281706f5e4d3c2b1a09f8e',
    email: 'carol@example.com',
    name: 'Carol Diaz',
  },
  dave: {
    username: 'dave',
    anonymous_id: 'c0ffee00d15ea5e0ba5eba11deadbeef',
    email: 'dave@example.com',
    name: 'Dave Okafor',
  },
};

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function parseCookies(header = '') {
  const out = {};
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function page(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'X-Frame-Options': 'SAMEORIGIN' });
  res.end(`<!doctype html><title>Open edX</title><p>${text.replace(/[<&>]/g, '')}</p>`);
}

/**
 * Starts the LMS on a free port of 127.0.0.1. `redirectUri` is the gateway application's only
 * registered redirect URI (Tutor's create_dot_application), as DOT checks it exactly.
 */
export async function startFakeLms({ clientId = 'ibal-gateway-e2e', clientSecret, redirectUri }) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = publicKey.export({ format: 'jwk' });
  const secret = clientSecret || b64url(randomBytes(24));
  const codes = new Map();
  const log = { authorize: [], token: [], me: [], issued: [] };
  let url = '';

  function jwt(user) {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS512', typ: 'JWT' }; // Open edX's default; no kid
    const claims = {
      iss: `${url}/oauth2`,
      aud: 'openedx',
      exp: now + 3600,
      iat: now,
      sub: user.anonymous_id,
      preferred_username: user.username,
      email: user.email,
      name: user.name,
      administrator: false,
      superuser: false,
      is_restricted: false,
      filters: [],
      scopes: ['email', 'profile'],
      email_verified: true,
      version: '1.2.0',
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign('sha512', Buffer.from(input), privateKey))}`;
  }

  /** The user of a valid `Authorization: JWT <token>` (Bearer accepted too), else null. */
  function userOf(req) {
    const m = /^(?:JWT|Bearer) (.+)$/.exec(req.headers.authorization || '');
    if (!m) return null;
    try {
      const [h, p, s] = m[1].split('.');
      if (!s || !verify('sha512', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))) return null;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
      if (claims.exp < Date.now() / 1000) return null;
      return USERS[claims.preferred_username] || null;
    } catch {
      return null;
    }
  }

  async function handle(req, res) {
    const u = new URL(req.url, url);
    if (req.method === 'GET' && u.pathname === '/oauth2/authorize') {
      const q = Object.fromEntries(u.searchParams);
      const user = USERS[parseCookies(req.headers.cookie).fake_lms_user] || USERS.alice;
      log.authorize.push({ ...q, user: user.username });
      // DOT shows an error page (no redirect) for a bad client or redirect URI.
      if (q.client_id !== clientId) return page(res, 400, 'Invalid client_id parameter value.');
      if (q.redirect_uri !== redirectUri) return page(res, 400, 'Mismatching redirect URI.');
      const back = new URL(q.redirect_uri);
      const fail = (error) => {
        back.searchParams.set('error', error);
        if (q.state) back.searchParams.set('state', q.state);
        res.writeHead(302, { Location: back.toString() });
        res.end();
      };
      if (q.response_type !== 'code') return fail('unsupported_response_type');
      if (!q.code_challenge || q.code_challenge_method !== 'S256') return fail('invalid_request');
      if (!q.state) return fail('invalid_request');
      if (!q.scope) return fail('invalid_scope');
      const code = b64url(randomBytes(20));
      codes.set(code, { user, challenge: q.code_challenge, redirectUri: q.redirect_uri, at: Date.now() });
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.state);
      res.writeHead(302, { Location: back.toString() });
      return res.end();
    }
    if (req.method === 'POST' && u.pathname === '/oauth2/access_token') {
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      let { client_id: id, client_secret: sec } = form;
      const basic = /^Basic (.+)$/.exec(req.headers.authorization || '');
      if (basic) [id, sec] = Buffer.from(basic[1], 'base64').toString('utf8').split(':').map(decodeURIComponent);
      const entry = { ...form, client_secret: form.client_secret ? '<set>' : undefined, basic: !!basic };
      log.token.push(entry);
      if (id !== clientId || sec !== secret) return json(res, 401, { error: 'invalid_client' });
      if (form.grant_type !== 'authorization_code') return json(res, 400, { error: 'unsupported_grant_type' });
      const pending = codes.get(form.code);
      codes.delete(form.code); // one-time, used or not
      if (!pending || Date.now() - pending.at > CODE_TTL_MS) {
        return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid code' });
      }
      if (form.redirect_uri !== pending.redirectUri) {
        return json(res, 400, { error: 'invalid_request', error_description: 'Mismatching redirect URI.' });
      }
      const challenge = createHash('sha256').update(form.code_verifier || '').digest('base64url');
      if (challenge !== pending.challenge) {
        return json(res, 400, { error: 'invalid_grant', error_description: 'Code verifier mismatch' });
      }
      entry.ok = true;
      const token = jwt(pending.user);
      log.issued.push({ user: pending.user.username, token });
      return json(res, 200, {
        access_token: token,
        token_type: form.token_type === 'jwt' ? 'JWT' : 'Bearer',
        expires_in: 3600,
        scope: 'email profile',
        refresh_token: b64url(randomBytes(24)),
      });
    }
    if (req.method === 'GET' && u.pathname === '/api/user/v1/me') {
      const user = userOf(req);
      log.me.push(user?.username ?? null);
      if (!user) return json(res, 401, { detail: 'Authentication credentials were not provided.' });
      return json(res, 200, { username: user.username });
    }
    const account = /^\/api\/user\/v1\/accounts\/([^/]+)$/.exec(u.pathname);
    if (req.method === 'GET' && account) {
      const user = userOf(req);
      if (!user) return json(res, 401, { detail: 'Authentication credentials were not provided.' });
      if (decodeURIComponent(account[1]) !== user.username) return json(res, 404, { detail: 'Not found.' });
      return json(res, 200, { username: user.username, name: user.name, email: user.email, is_active: true });
    }
    if (req.method === 'GET' && u.pathname === '/heartbeat') {
      return json(res, 200, { sql: { status: true, message: 'OK' }, modulestore: { status: true, message: 'OK' } });
    }
    return page(res, 404, 'Page not found');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', detail: String(err) });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    clientId,
    clientSecret: secret,
    /** The public JWK set as Tutor renders it into the gateway's configuration. */
    jwks: JSON.stringify({ keys: [{ kid: 'openedx', kty: 'RSA', n: pub.n, e: pub.e }] }),
    log,
    gatewayEnv() {
      return {
        OPENEDX_URL: url,
        OPENEDX_CLIENT_ID: clientId,
        OPENEDX_CLIENT_SECRET: secret,
        OPENEDX_JWKS: this.jwks,
      };
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
