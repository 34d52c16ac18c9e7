// Sign-in with the OpenID Connect issuer: the authorization code flow with
// PKCE (S256) for a public client (RFC 8252, RFC 7636, OAuth 2.0 for
// Browser-Based Apps), with no client secret and no backend holding tokens.
//
// Where the tokens are kept: sessionStorage. It survives the redirect to the
// issuer and back and a reload of the tab, but it is not shared with other
// tabs and is dropped when the tab closes, so a token does not outlive the
// session it was asked for (localStorage would keep it for weeks). Cookies
// are not used: the APIs take the token in the Authorization header only,
// so there is no cookie to steal with a cross-site request. What would read
// sessionStorage is script injected into this origin, which the
// Content-Security-Policy (no inline script, scripts only from this server)
// and the text-only DOM helpers (dom.js) are there to prevent.

const SESSION_KEY = 'loans.session';
const PENDING_KEY = 'loans.signin';
// A token this close to its expiry is treated as expired: a call started
// with it could arrive after it.
const EXPIRY_MARGIN_MS = 30_000;

let discoveryPromise;

/** The issuer's discovery document (authorization, token and end-session endpoints). */
export function discover(issuerUrl) {
  discoveryPromise ??= fetch(`${issuerUrl}/.well-known/openid-configuration`)
    .then((res) => {
      if (!res.ok) throw new Error(`the identity provider answered ${res.status}`);
      return res.json();
    })
    .catch((err) => {
      discoveryPromise = undefined; // try again next time
      throw new Error(`Cannot reach the identity provider at ${issuerUrl}: ${err.message}`);
    });
  return discoveryPromise;
}

function base64url(bytes) {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(byteCount = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

async function s256(verifier) {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

function redirectUri() {
  return `${location.origin}/callback`;
}

/** Sends the browser to the issuer's login page; it comes back to /callback. */
export async function signIn(config, returnTo = '/') {
  const oidc = await discover(config.issuerUrl);
  const verifier = randomString(48);
  const state = randomString();
  const nonce = randomString();
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, nonce, returnTo }));
  const url = new URL(oidc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: 'openid profile',
    state,
    nonce,
    code_challenge: await s256(verifier),
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/**
 * Completes a sign-in at /callback: checks the state, redeems the code with
 * the PKCE verifier and keeps the tokens. Returns where to go next.
 */
export async function completeSignIn(config, params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  sessionStorage.removeItem(PENDING_KEY); // one use, whatever happens
  if (params.get('error')) {
    throw new Error(`Sign-in was refused: ${params.get('error_description') || params.get('error')}`);
  }
  if (!pending || !params.get('state') || params.get('state') !== pending.state) {
    // Not a response to a sign-in this tab started: a forged or replayed one.
    throw new Error('This sign-in response does not match a sign-in started here. Please sign in again.');
  }
  const oidc = await discover(config.issuerUrl);
  const res = await fetch(oidc.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: redirectUri(),
      client_id: config.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) {
    throw new Error(`The identity provider did not issue a token: ${body.error_description || body.error || res.status}`);
  }
  const idClaims = body.id_token ? decodeJwt(body.id_token) : {};
  if (idClaims.nonce !== undefined && idClaims.nonce !== pending.nonce) {
    throw new Error('The ID token does not belong to this sign-in. Please sign in again.');
  }
  const session = {
    accessToken: body.access_token,
    idToken: body.id_token,
    expiresAt: Date.now() + Number(body.expires_in ?? 300) * 1000,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return pending.returnTo || '/';
}

/**
 * The signed-in user, or null: the access token and what its claims say.
 * The claims are read, not verified: the services verify every token; the
 * page only decides what to offer.
 */
export function currentUser() {
  const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
  if (!session?.accessToken) return null;
  if (Date.now() > session.expiresAt - EXPIRY_MARGIN_MS) {
    sessionStorage.removeItem(SESSION_KEY);
    return null;
  }
  const claims = decodeJwt(session.accessToken);
  const roles = Array.isArray(claims.roles) ? claims.roles.map(String) : [];
  return {
    token: session.accessToken,
    idToken: session.idToken,
    expiresAt: session.expiresAt,
    subject: String(claims.sub ?? ''),
    name: String(claims.preferred_username ?? claims.sub ?? ''),
    roles,
    has: (...wanted) => wanted.some((r) => roles.includes(r)),
  };
}

/** Forgets the tokens and ends the issuer's session (if it keeps one), coming back to /. */
export async function signOut(config) {
  const user = currentUser();
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  let oidc;
  try {
    oidc = await discover(config.issuerUrl);
  } catch {
    oidc = null;
  }
  if (!oidc?.end_session_endpoint) {
    location.assign('/');
    return;
  }
  const url = new URL(oidc.end_session_endpoint);
  const params = { client_id: config.clientId, post_logout_redirect_uri: `${location.origin}/` };
  if (user?.idToken) params.id_token_hint = user.idToken;
  url.search = new URLSearchParams(params).toString();
  location.assign(url.toString());
}

function decodeJwt(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)));
    return JSON.parse(json);
  } catch {
    return {};
  }
}
