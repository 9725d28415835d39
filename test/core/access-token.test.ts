import { createHmac } from 'node:crypto';
import { importJWK, type JWK, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AccessTokenExpiredError,
  createAccessTokenVerifier,
  createManualClock,
  createSessionEngine,
  InvalidTokenError,
  type SessionEngine,
  type SessionEngineOptions,
} from '../../packages/sessionkeeper/src/core/index.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';

const engines: SessionEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup(options: SessionEngineOptions = {}) {
  const clock = createManualClock();
  const engine = await createSessionEngine({
    store: createMemoryStore(),
    clock,
    background: false,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  engines.push(engine);
  const { tokens, session } = await engine.create({ subject: 'ada', tokens: true });
  if (!tokens) throw new Error('no tokens');
  const stored = JSON.parse((await engine.store.loadKeyring())?.json ?? '{}') as {
    keys: { kid: string; publicJwk: JWK; privateJwk: JWK }[];
  };
  const key = stored.keys[0];
  if (!key) throw new Error('no key');
  const nowS = Math.floor(clock.now() / 1000);
  /** A token signed with the engine's real key, with claims the test chooses. */
  const forge = async (claims: Record<string, unknown>) =>
    new SignJWT({ sid: session.id, ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
      .sign(await importJWK(key.privateJwk, 'EdDSA'));
  const base = {
    sub: 'ada',
    iss: 'sessionkeeper',
    aud: 'sessionkeeper',
    iat: nowS,
    exp: nowS + 900,
    jti: 'j1',
  };
  return { engine, clock, tokens, session, key, forge, base };
}

async function rejection(engine: SessionEngine, token: string) {
  const result = await engine.verifyAccessToken(token);
  if (result.ok) throw new Error('token was accepted');
  return result.error;
}

describe('access token verification', () => {
  it('accepts a token the engine forged with its own key and the right claims', async () => {
    const { engine, forge, base } = await setup();
    expect((await engine.verifyAccessToken(await forge(base))).ok).toBe(true);
  });

  it('refuses alg "none"', async () => {
    const { engine, tokens } = await setup();
    const [, payload] = tokens.accessToken.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const error = await rejection(engine, `${header}.${payload}.`);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect(error.message).toMatch(/algorithm is not accepted|malformed/);
  });

  it('refuses HS256 signed with the public key (algorithm confusion)', async () => {
    const { engine, tokens, key } = await setup();
    const [, payload] = tokens.accessToken.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: key.kid })).toString(
      'base64url',
    );
    const secret = Buffer.from(String(key.publicJwk.x), 'base64url');
    const signature = createHmac('sha256', secret)
      .update(`${header}.${payload}`)
      .digest('base64url');
    const error = await rejection(engine, `${header}.${payload}.${signature}`);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect(error.message).toContain('algorithm is not accepted');
  });

  it('refuses another audience or issuer, naming which', async () => {
    const { engine, forge, base } = await setup();
    expect((await rejection(engine, await forge({ ...base, aud: 'billing' }))).message).toContain(
      'another audience',
    );
    expect((await rejection(engine, await forge({ ...base, iss: 'evil' }))).message).toContain(
      'another issuer',
    );
  });

  it('reports an expired token as access-token-expired (refresh), after the clock tolerance', async () => {
    const { engine, clock, tokens } = await setup();
    clock.advance(900 + 29);
    expect((await engine.verifyAccessToken(tokens.accessToken)).ok).toBe(true);
    clock.advance(2);
    const error = await rejection(engine, tokens.accessToken);
    expect(error).toBeInstanceOf(AccessTokenExpiredError);
    expect(error.action).toBe('refresh');
  });

  it('refuses a token that is not valid yet beyond the tolerance', async () => {
    const { engine, forge, base } = await setup();
    expect((await engine.verifyAccessToken(await forge({ ...base, nbf: base.iat + 20 }))).ok).toBe(
      true,
    );
    const error = await rejection(engine, await forge({ ...base, nbf: base.iat + 60 }));
    expect(error.message).toContain('not valid yet');
  });

  it('refuses a token issued in the future beyond the tolerance, in the engine and in another service', async () => {
    const { engine, clock, forge, base } = await setup();
    const verifier = createAccessTokenVerifier({ jwks: await engine.jwks(), clock });
    // A verifier whose clock is 20 s behind the issuer's: within the 30 s tolerance.
    const near = await forge({ ...base, iat: base.iat + 20, exp: base.exp + 20 });
    expect((await engine.verifyAccessToken(near)).ok).toBe(true);
    expect((await verifier.verify(near)).ok).toBe(true);
    // Five minutes behind: refused by both, naming the claim.
    const future = await forge({ ...base, iat: base.iat + 300, exp: base.exp + 300 });
    const fromEngine = await rejection(engine, future);
    expect(fromEngine).toBeInstanceOf(InvalidTokenError);
    expect(fromEngine.message).toContain('"iat"');
    const fromVerifier = await verifier.verify(future);
    expect(!fromVerifier.ok && fromVerifier.error).toBeInstanceOf(InvalidTokenError);
    const notBefore = await forge({ ...base, nbf: base.iat + 300 });
    const late = await verifier.verify(notBefore);
    expect(!late.ok && late.error.message).toContain('not valid yet');
  });

  it('caps the clock tolerance at a tenth of the token’s lifetime', async () => {
    const { engine, clock } = await setup({ tokens: { accessTokenTtlSeconds: 10 } });
    const { tokens } = await engine.create({ subject: 'bea', tokens: true });
    if (!tokens) throw new Error('no tokens');
    const verifier = createAccessTokenVerifier({ jwks: await engine.jwks(), clock });
    // 10 s token: 1 s of leeway, not the configured 30 s.
    clock.advance(10.9);
    expect((await engine.verifyAccessToken(tokens.accessToken)).ok).toBe(true);
    clock.advance(0.2);
    expect(await rejection(engine, tokens.accessToken)).toBeInstanceOf(AccessTokenExpiredError);
    const remote = await verifier.verify(tokens.accessToken);
    expect(!remote.ok && remote.error).toBeInstanceOf(AccessTokenExpiredError);
  });

  it('uses the configured clock tolerance', async () => {
    const { engine, clock, tokens } = await setup({ tokens: { clockToleranceSeconds: 0 } });
    clock.advance(901);
    expect(await rejection(engine, tokens.accessToken)).toBeInstanceOf(AccessTokenExpiredError);
  });

  it('refuses truncated and bit-flipped tokens', async () => {
    const { engine, tokens } = await setup();
    const token = tokens.accessToken;
    expect(await rejection(engine, token.slice(0, -10))).toBeInstanceOf(InvalidTokenError);
    expect(await rejection(engine, token.split('.').slice(0, 2).join('.'))).toBeInstanceOf(
      InvalidTokenError,
    );
    for (const at of [5, token.indexOf('.') + 5, token.length - 5]) {
      const flipped = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
      expect(await rejection(engine, flipped)).toBeInstanceOf(InvalidTokenError);
    }
    expect(await rejection(engine, '')).toBeInstanceOf(InvalidTokenError);
  });

  it('refuses a token missing a required claim', async () => {
    const { engine, forge, base } = await setup();
    const { jti: _jti, ...withoutJti } = base;
    expect((await rejection(engine, await forge(withoutJti))).message).toContain('"jti"');
  });

  it('verifies in another service from the JWKS alone', async () => {
    const { engine, clock, tokens } = await setup();
    const verifier = createAccessTokenVerifier({ jwks: await engine.jwks(), clock });
    expect((await verifier.verify(tokens.accessToken)).ok).toBe(true);
    const other = createAccessTokenVerifier({
      jwks: await engine.jwks(),
      audience: 'billing',
      clock,
    });
    expect((await other.verify(tokens.accessToken)).ok).toBe(false);
  });
});
