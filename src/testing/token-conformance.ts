import { decodeProtectedHeader } from 'jose';
import { expect, it } from 'vitest';
import type { ManualClock } from '../core/clock.js';
import type { SessionEngine } from '../core/engine.js';
import {
  AccessTokenExpiredError,
  InvalidTokenError,
  RefreshTokenReusedError,
  SessionExpiredError,
  SessionLifetimeExceededError,
  SessionNotFoundError,
  SessionRevokedError,
} from '../core/errors.js';
import type { SessionEngineOptions } from '../core/options.js';
import type { SessionEvent } from '../core/types.js';

interface Harness {
  engine: SessionEngine;
  clock: ManualClock;
  events: SessionEvent[];
}

/** Access and refresh tokens on one store: rotation, the grace window, reuse, keys. */
export function tokenCases(setup: (options?: SessionEngineOptions) => Promise<Harness>): void {
  async function withTokens(options: SessionEngineOptions = {}) {
    const harness = await setup(options);
    const created = await harness.engine.create({ subject: 'ada', tokens: true });
    const tokens = created.tokens;
    if (!tokens) throw new Error('create({ tokens: true }) returned no tokens');
    return { ...harness, session: created.session, tokens };
  }

  it('issues a verifiable access token and a refresh token that rotates on use', async () => {
    const { engine, clock, events, session, tokens } = await withTokens();
    expect(tokens.refreshToken).toMatch(/^skr_[A-Za-z0-9_-]{8,64}\.[A-Za-z0-9_-]{43}$/);
    expect(tokens.accessTokenExpiresIn).toBe(900);
    const verified = await engine.verifyAccessToken(tokens.accessToken);
    expect(verified.ok && verified.claims).toMatchObject({
      sub: 'ada',
      sid: session.id,
      iss: 'sessionkeeper',
      aud: 'sessionkeeper',
    });
    clock.advance(20);
    const refreshed = await engine.refresh(tokens.refreshToken);
    expect(refreshed.ok).toBe(true);
    if (!refreshed.ok) return;
    expect(refreshed.replayed).toBe(false);
    expect(refreshed.tokens.refreshToken).not.toBe(tokens.refreshToken);
    expect(refreshed.tokens.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.session.lastActiveAt.getTime()).toBe(clock.now());
    const again = await engine.refresh(refreshed.tokens.refreshToken);
    expect(again.ok).toBe(true);
    await engine.deliverEvents();
    expect(events.filter((e) => e.type === 'refresh.rotated')).toHaveLength(2);
  });

  it('answers parallel refreshes with one token with one rotation and identical pairs', async () => {
    const { engine, events, tokens } = await withTokens();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => engine.refresh(tokens.refreshToken)),
    );
    const pairs = results.map((r) => (r.ok ? r.tokens : null));
    expect(pairs.every((p) => p !== null)).toBe(true);
    expect(new Set(pairs.map((p) => p?.refreshToken)).size).toBe(1);
    expect(new Set(pairs.map((p) => p?.accessToken)).size).toBe(1);
    expect(results.filter((r) => r.ok && !r.replayed)).toHaveLength(1);
    await engine.deliverEvents();
    expect(events.filter((e) => e.type === 'refresh.rotated')).toHaveLength(1);
  });

  it('revokes only the session whose rotated token comes back after the grace window', async () => {
    const { engine, clock, events, session, tokens } = await withTokens({
      tokens: { refreshGraceSeconds: 10 },
    });
    const bystander = await engine.create({ subject: 'ada' });
    const first = await engine.refresh(tokens.refreshToken);
    clock.advance(9);
    const replay = await engine.refresh(tokens.refreshToken);
    expect(replay.ok && first.ok && replay.tokens.refreshToken === first.tokens.refreshToken).toBe(
      true,
    );
    clock.advance(2);
    const reuse = await engine.refresh(tokens.refreshToken);
    expect(reuse.ok).toBe(false);
    if (reuse.ok || !first.ok) return;
    expect(reuse.error).toBeInstanceOf(RefreshTokenReusedError);
    const current = await engine.refresh(first.tokens.refreshToken);
    expect(!current.ok && current.error).toBeInstanceOf(SessionRevokedError);
    expect((await engine.get(session.id))?.session).toMatchObject({
      status: 'revoked',
      endReason: 'refresh-token-reused',
    });
    expect((await engine.validate(bystander.token)).ok).toBe(true);
    await engine.deliverEvents();
    const types = events.filter((e) => e.session.id === session.id).map((e) => e.type);
    expect(types).toEqual(['created', 'refresh.rotated', 'refresh.reused', 'revoked']);
  });

  it('refuses refresh of ended, unknown or token-less sessions with the validation errors', async () => {
    const { engine, clock, session, tokens } = await withTokens({
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 100,
    });
    const plain = await engine.create({ subject: 'bob' });
    const noFamily = await engine.refresh(`skr_${plain.session.id}.${'A'.repeat(43)}`);
    expect(!noFamily.ok && noFamily.error).toBeInstanceOf(InvalidTokenError);
    const unknown = await engine.refresh(`skr_unknown-session-1.${'A'.repeat(43)}`);
    expect(!unknown.ok && unknown.error).toBeInstanceOf(SessionNotFoundError);
    const malformed = await engine.refresh(tokens.refreshToken.slice(0, -3));
    expect(!malformed.ok && malformed.error).toBeInstanceOf(InvalidTokenError);

    clock.advance(61);
    const idle = await engine.refresh(tokens.refreshToken);
    expect(!idle.ok && idle.error).toBeInstanceOf(SessionExpiredError);

    const second = await withTokens({ idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 100 });
    let token = second.tokens.refreshToken;
    for (let i = 0; i < 3; i++) {
      second.clock.advance(40);
      const r = await second.engine.refresh(token);
      if (r.ok) token = r.tokens.refreshToken;
    }
    const lifetime = await second.engine.refresh(token);
    expect(!lifetime.ok && lifetime.error).toBeInstanceOf(SessionLifetimeExceededError);

    const third = await withTokens();
    await third.engine.revoke(third.session.id, 'logout');
    const revoked = await third.engine.refresh(third.tokens.refreshToken);
    expect(!revoked.ok && revoked.error).toMatchObject({ revokedReason: 'logout' });
    expect(session.id).toBeTruthy();
  });

  it('rejects a token replaced two rotations ago without revoking the session', async () => {
    const { engine, clock, session, tokens } = await withTokens();
    const one = await engine.refresh(tokens.refreshToken);
    if (!one.ok) throw one.error;
    await engine.refresh(one.tokens.refreshToken);
    clock.advance(30);
    const stale = await engine.refresh(tokens.refreshToken);
    expect(!stale.ok && stale.error).toBeInstanceOf(InvalidTokenError);
    expect((await engine.get(session.id))?.session.status).toBe('active');
  });

  it('never lets an access token outlive the session’s absolute deadline', async () => {
    const { engine, clock, tokens } = await withTokens({
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 300,
    });
    expect(tokens.accessTokenExpiresIn).toBe(300);
    clock.advance(331);
    const late = await engine.verifyAccessToken(tokens.accessToken);
    expect(!late.ok && late.error).toBeInstanceOf(AccessTokenExpiredError);
  });

  it('keeps signing keys in the store, rotates them, and publishes retired ones until their tokens expire', async () => {
    const { engine, clock, tokens } = await withTokens({
      tokens: { keyRotationIntervalSeconds: 3600, accessTokenTtlSeconds: 600 },
      absoluteTimeoutSeconds: 86400,
      idleTimeoutSeconds: 86400,
    });
    const firstKid = decodeProtectedHeader(tokens.accessToken).kid;
    expect((await engine.jwks()).keys.map((k) => k.kid)).toEqual([firstKid]);
    expect(await engine.store.loadKeyring()).toMatchObject({ version: 1 });

    // Ten minutes before the first key's hour is up, its successor is published but not used.
    clock.advance(3600 - 600);
    const late = await engine.refresh(tokens.refreshToken);
    if (!late.ok) throw late.error;
    expect(decodeProtectedHeader(late.tokens.accessToken).kid).toBe(firstKid);
    const [secondKid, ...older] = (await engine.jwks()).keys.map((k) => k.kid);
    expect(older).toEqual([firstKid]);
    expect(secondKid).not.toBe(firstKid);

    clock.advance(600);
    const rotated = await engine.refresh(late.tokens.refreshToken);
    if (!rotated.ok) throw rotated.error;
    expect(decodeProtectedHeader(rotated.tokens.accessToken).kid).toBe(secondKid);
    expect((await engine.verifyAccessToken(late.tokens.accessToken)).ok).toBe(true);

    clock.advance(600 + 30 + 1);
    expect((await engine.jwks()).keys.map((k) => k.kid)).toEqual([secondKid]);
  });

  it('saves the keyring only over the version it read', async () => {
    const { engine } = await setup();
    const { store } = engine;
    expect(await store.loadKeyring()).toBeNull();
    expect(await store.saveKeyring(0, '{"keys":["a"]}')).toBe(true);
    expect(await store.saveKeyring(0, '{"keys":["b"]}')).toBe(false);
    expect(await store.loadKeyring()).toEqual({ version: 1, json: '{"keys":["a"]}' });
    const racers = await Promise.all([1, 2, 3].map((n) => store.saveKeyring(1, `{"n":${n}}`)));
    expect(racers.filter(Boolean)).toHaveLength(1);
    expect((await store.loadKeyring())?.version).toBe(2);
  });

  it('with the denylist on, rejects access tokens of a revoked session at once', async () => {
    const plain = await withTokens();
    await plain.engine.revoke(plain.session.id);
    expect((await plain.engine.verifyAccessToken(plain.tokens.accessToken)).ok).toBe(true);

    const strict = await withTokens({ tokens: { denylist: true } });
    expect((await strict.engine.verifyAccessToken(strict.tokens.accessToken)).ok).toBe(true);
    await strict.engine.revoke(strict.session.id);
    const after = await strict.engine.verifyAccessToken(strict.tokens.accessToken);
    expect(!after.ok && after.error).toBeInstanceOf(SessionRevokedError);
  });
}
