// Test IdP for idphooks: npm oidc-provider on a random loopback port.
//
// Started by StartOIDCProvider (../oidcprovider.go), which passes clients,
// accounts and redirect URIs as JSON in TESTIDP_CONFIG and reads the line
// "listening <port>" from stdout. Development use only.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

const cfg = JSON.parse(process.env.TESTIDP_CONFIG ?? '{}');
const accounts = cfg.accounts ?? [];
const byUsername = new Map(accounts.map((a) => [a.username, a]));
const bySubject = new Map(accounts.map((a) => [a.sub, a]));

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

function sameString(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

function configuration() {
  return {
    clients: cfg.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      token_endpoint_auth_method: c.token_endpoint_auth_method,
      redirect_uris: cfg.redirect_uris,
      post_logout_redirect_uris: cfg.post_logout_redirect_uris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    })),
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    async findAccount(ctx, sub) {
      const a = bySubject.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub, email: a.email, email_verified: true, name: a.name, preferred_username: a.username,
          };
        },
      };
    },
    features: {
      devInteractions: { enabled: true },
      introspection: {
        enabled: true,
        async allowedPolicy(ctx, client, token) {
          return token.clientId === undefined || token.clientId === client.clientId;
        },
      },
      revocation: {
        enabled: true,
        async allowedPolicy(ctx, client, token) {
          return token.clientId === client.clientId;
        },
      },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // a resource given at the authorization request is used at the
        // token endpoint too, also when the client does not repeat it
        async useGrantedResource() { return true; },
        async getResourceServerInfo(ctx, indicator) {
          if (indicator !== cfg.resource) throw new errors.InvalidTarget();
          return {
            scope: cfg.resource_scope,
            audience: indicator,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };
}

// checkPassword runs before the dev interactions' submit action, which takes
// any login without a password: it checks the password of a known account,
// re-renders the form on failure (HTTP 200, like many IdPs) and replaces the
// login name by the account's subject.
function checkPassword() {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)
      || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const body = querystring.parse(Buffer.concat(chunks).toString());
    if (body.prompt === 'login') {
      const a = byUsername.get(String(body.login ?? ''));
      if (!a || !sameString(a.password, body.password ?? '')) {
        ctx.type = 'html';
        ctx.set('cache-control', 'no-store');
        ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head><body>
<p class="error">Invalid login or password.</p>
<form autocomplete="off" action="${ctx.path}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="login">
  <input required type="password" name="password" placeholder="password">
  <button type="submit">Sign-in</button>
</form></body></html>`;
        return undefined;
      }
      body.login = a.sub;
      delete body.password;
    }
    // oidc-provider reads an already consumed body from req.body
    ctx.req.body = body;
    return next();
  };
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration());
  // behind a reverse proxy, build URLs from X-Forwarded-Host/Proto
  provider.proxy = true;
  provider.use(checkPassword());
  server.on('request', provider.callback());
  process.stdout.write(`listening ${port}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// the Go side holds our stdin open; when it closes (Close, or the test
// process died) we stop, so no provider outlives its test binary
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.resume();
