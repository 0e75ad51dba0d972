// A real OpenID provider for the sign-in tests: the npm package oidc-provider, with its
// development login screen (any login, any password) and the clients the test names.
//
//   node oidc_provider.mjs <port> '<clients as JSON>'
//
// It prints "ready" once it listens. One hook lets a test make it misbehave as a provider
// could: POST /test/forge {"iss": ..., "aud": ...} changes those claims of the next ID token
// its token endpoint sends, signed with its own key, so artproxy must catch them by the claims.
import { createServer } from 'node:http';
import { Provider } from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.argv[2]);
const clients = JSON.parse(process.argv[3]);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...client,
  })),
  jwks: { keys: [signingKey] },
  pkce: { methods: ['S256'], required: () => true },
  // The profile and email claims in the ID token itself, as Google's and Microsoft's are.
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id, email: `${id}@example.test`, email_verified: true, name: `Person ${id}`,
    }),
  }),
  cookies: { keys: ['artproxy-tests-only'] },
  features: { devInteractions: { enabled: true } },
});

let forged = null;
provider.use(async (ctx, next) => {
  if (ctx.path === '/test/forge' && ctx.method === 'POST') {
    let body = '';
    for await (const chunk of ctx.req) body += chunk;
    forged = JSON.parse(body);
    ctx.status = 204;
    return;
  }
  await next();
  if (forged && ctx.path === '/token' && ctx.body && ctx.body.id_token) {
    const claims = { ...jose.decodeJwt(ctx.body.id_token), ...forged };
    forged = null;
    ctx.body.id_token = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid })
      .sign(privateKey);
  }
});

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
