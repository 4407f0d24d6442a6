// Test SAML SP for idphooks: @node-saml/node-saml on a random loopback port.
//
// Started by StartNodeSP (../nodesaml.go), which passes the SP's settings as
// JSON in NODESAML_CONFIG, reads the line "listening <port>" from stdout and
// closes stdin to stop it. node-saml reads no metadata: the Go side gives it
// the IdP's entity id, endpoints and signing certificates (idpCert).
//
// Routes:
//   GET  /login?RelayState=R          302 to the AuthnRequest URL (Redirect binding)
//   POST /saml/acs                    validatePostResponseAsync; outcome kept for R
//   GET  /logout?login=R0&RelayState=R  302 to a LogoutRequest for login R0's profile
//   GET|POST /saml/slo                LogoutResponse: outcome kept for R;
//                                     LogoutRequest: kept, answered by Redirect
//   GET  /outcome?RelayState=R        JSON of what the ACS or SLO concluded (taken once)
//   GET  /idp-logouts                 JSON of the IdP's LogoutRequests so far (then cleared)
//   GET  /slo-hits                    JSON of each request to /saml/slo: method, query SigAlg
// Development use only.
import { createServer } from 'node:http';
import * as querystring from 'node:querystring';

import { SAML } from '@node-saml/node-saml';

const cfg = JSON.parse(process.env.NODESAML_CONFIG ?? '{}');
const maxBody = 1 << 20;

let saml; // made once the port is known: the ACS and SLO URLs are on it
const outcomes = new Map(); // RelayState -> { login } | { logout } | { error }
const sessions = new Map(); // RelayState of a login -> its profile, for logout
let idpLogouts = []; // { method, request } | { method, error }, in order
const sloHits = []; // { method, sig_alg } of each request to /saml/slo

// profileJSON keeps what a test checks of node-saml's Profile; attribute
// values are always arrays (node-saml gives one value as a string).
function profileJSON(p) {
  const attributes = {};
  for (const [name, v] of Object.entries(p.attributes ?? {})) {
    attributes[name] = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : JSON.stringify(x ?? null)));
  }
  return {
    issuer: p.issuer ?? '',
    name_id: p.nameID ?? '',
    name_id_format: p.nameIDFormat ?? '',
    session_index: p.sessionIndex ?? '',
    in_response_to: p.inResponseTo ?? '',
    id: p.ID ?? '',
    attributes,
  };
}

// errorJSON keeps node-saml's message and, for a SamlStatusError, the
// Status element it quotes.
function errorJSON(err) {
  return { message: String(err?.message ?? err), status: err?.xmlStatus ?? '' };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > maxBody) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

const json = (res, v) => send(res, 200, 'application/json', JSON.stringify(v));
const text = (res, status, s) => send(res, status, 'text/plain; charset=utf-8', s + '\n');

function redirect(res, location) {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store' });
  res.end();
}

function one(v) {
  return Array.isArray(v) ? v[0] : v;
}

async function acs(req, res) {
  if (req.method !== 'POST') return text(res, 405, 'POST only');
  const form = querystring.parse(await readBody(req));
  const relay = one(form.RelayState) ?? '';
  const samlResponse = one(form.SAMLResponse) ?? '';
  const response = Buffer.from(samlResponse, 'base64').toString('utf8');
  try {
    const { profile, loggedOut } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse, RelayState: relay });
    if (!profile) throw new Error(`node-saml returned no profile (loggedOut ${loggedOut})`);
    sessions.set(relay, profile);
    outcomes.set(relay, { login: profileJSON(profile), response });
    text(res, 200, `logged in as ${profile.nameID}`);
  } catch (err) {
    outcomes.set(relay, { error: errorJSON(err), response });
    text(res, 403, `login refused: ${err.message}`);
  }
}

// slo takes the IdP's LogoutResponse to /logout's request, or the IdP's own
// LogoutRequest, which it answers through the Redirect binding (the only one
// node-saml builds).
async function slo(req, res, url) {
  let fields;
  let result;
  let relay;
  sloHits.push({ method: req.method, sig_alg: req.method === 'GET' ? (url.searchParams.get('SigAlg') ?? '') : '' });
  try {
    if (req.method === 'POST') {
      fields = querystring.parse(await readBody(req));
      relay = one(fields.RelayState) ?? '';
      if (fields.SAMLResponse) {
        result = await saml.validatePostResponseAsync({ SAMLResponse: one(fields.SAMLResponse), RelayState: relay });
      } else if (fields.SAMLRequest) {
        result = await saml.validatePostRequestAsync({ SAMLRequest: one(fields.SAMLRequest), RelayState: relay });
      } else {
        return text(res, 400, 'no SAMLRequest or SAMLResponse');
      }
    } else {
      fields = Object.fromEntries(url.searchParams);
      relay = fields.RelayState ?? '';
      if (!fields.SAMLRequest && !fields.SAMLResponse) return text(res, 400, 'no SAMLRequest or SAMLResponse');
      result = await saml.validateRedirectAsync(fields, url.search.slice(1));
    }
  } catch (err) {
    if (fields?.SAMLRequest) idpLogouts.push({ method: req.method, error: errorJSON(err) });
    else outcomes.set(relay, { method: req.method, error: errorJSON(err) });
    return text(res, 403, `logout refused: ${err.message}`);
  }
  if (fields.SAMLResponse) {
    outcomes.set(relay, { method: req.method, logout: { logged_out: result.loggedOut } });
    return text(res, 200, 'logged out');
  }
  idpLogouts.push({ method: req.method, request: profileJSON(result.profile) });
  for (const [k, p] of sessions) {
    if (p.nameID === result.profile.nameID) sessions.delete(k);
  }
  redirect(res, await saml.getLogoutResponseUrlAsync(result.profile, relay, {}, true));
}

async function route(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  switch (url.pathname) {
    case '/login':
      return redirect(res, await saml.getAuthorizeUrlAsync(url.searchParams.get('RelayState') ?? '', undefined, {}));
    case '/saml/acs':
      return acs(req, res);
    case '/logout': {
      const profile = sessions.get(url.searchParams.get('login') ?? '');
      if (!profile) return text(res, 404, 'no such login');
      return redirect(res, await saml.getLogoutUrlAsync(profile, url.searchParams.get('RelayState') ?? '', {}));
    }
    case '/saml/slo':
      return slo(req, res, url);
    case '/outcome': {
      const relay = url.searchParams.get('RelayState') ?? '';
      const o = outcomes.get(relay);
      outcomes.delete(relay);
      return o ? json(res, o) : send(res, 404, 'application/json', '{}');
    }
    case '/slo-hits':
      return json(res, sloHits);
    case '/idp-logouts': {
      const list = idpLogouts;
      idpLogouts = [];
      return json(res, list);
    }
    default:
      return text(res, 404, 'not found');
  }
}

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    process.stderr.write(`nodesaml: ${req.method} ${req.url}: ${err.stack ?? err}\n`);
    if (!res.headersSent) text(res, 500, String(err.message ?? err));
    else res.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const base = `http://127.0.0.1:${port}`;
  saml = new SAML({
    issuer: cfg.entity_id || `${base}/saml/metadata`,
    callbackUrl: `${base}/saml/acs`,
    logoutCallbackUrl: `${base}/saml/slo`,
    entryPoint: cfg.sso_url,
    logoutUrl: cfg.slo_url,
    idpIssuer: cfg.idp_entity_id,
    idpCert: cfg.idp_certs,
    wantAssertionsSigned: cfg.want_assertions_signed,
    wantAuthnResponseSigned: cfg.want_authn_response_signed,
    // "always" would refuse every POST LogoutResponse: node-saml reads
    // InResponseTo from a Response root only.
    validateInResponseTo: 'ifPresent',
    signatureAlgorithm: 'sha256',
  });
  process.stdout.write(`listening ${port}\n`);
});

// StartNodeSP's Close ends stdin.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
