import { strict as assert } from 'node:assert';
import { decodeProtectedHeader } from 'jose';
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
import { assertFields, assertInstanceOf, assertLength, assertMatches } from './assert.js';
import type { DefineCase } from './define-case.js';

interface Harness {
  engine: SessionEngine;
  clock: ManualClock;
  events: SessionEvent[];
}

/** Access and refresh tokens on one store: rotation, the grace window, reuse, keys. */
export function tokenCases(
  it: DefineCase,
  setup: (options?: SessionEngineOptions) => Promise<Harness>,
): void {
  async function withTokens(options: SessionEngineOptions = {}) {
    const harness = await setup(options);
    const created = await harness.engine.create({ subject: 'ada', tokens: true });
    const tokens = created.tokens;
    if (!tokens) throw new Error('create({ tokens: true }) returned no tokens');
    return { ...harness, session: created.session, tokens };
  }

  it('issues a verifiable access token and a refresh token that rotates on use', async () => {
    const { engine, clock, events, session, tokens } = await withTokens();
    assertMatches(tokens.refreshToken, /^skr_[A-Za-z0-9_-]{8,64}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(tokens.accessTokenExpiresIn, 900);
    const verified = await engine.verifyAccessToken(tokens.accessToken);
    assertFields(verified.ok && verified.claims, {
      sub: 'ada',
      sid: session.id,
      iss: 'sessionkeeper',
      aud: 'sessionkeeper',
    });
    clock.advance(20);
    const refreshed = await engine.refresh(tokens.refreshToken);
    assert.equal(refreshed.ok, true);
    if (!refreshed.ok) return;
    assert.equal(refreshed.replayed, false);
    assert.notEqual(refreshed.tokens.refreshToken, tokens.refreshToken);
    assert.notEqual(refreshed.tokens.accessToken, tokens.accessToken);
    assert.equal(refreshed.session.lastActiveAt.getTime(), clock.now());
    const again = await engine.refresh(refreshed.tokens.refreshToken);
    assert.equal(again.ok, true);
    await engine.deliverEvents();
    assertLength(
      events.filter((e) => e.type === 'refresh.rotated'),
      2,
    );
  });

  it('answers parallel refreshes with one token with one rotation and identical pairs', async () => {
    const { engine, events, tokens } = await withTokens();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => engine.refresh(tokens.refreshToken)),
    );
    const pairs = results.map((r) => (r.ok ? r.tokens : null));
    assert.equal(
      pairs.every((p) => p !== null),
      true,
    );
    assert.equal(new Set(pairs.map((p) => p?.refreshToken)).size, 1);
    assert.equal(new Set(pairs.map((p) => p?.accessToken)).size, 1);
    assertLength(
      results.filter((r) => r.ok && !r.replayed),
      1,
    );
    await engine.deliverEvents();
    assertLength(
      events.filter((e) => e.type === 'refresh.rotated'),
      1,
    );
  });

  /**
   * The grace window runs on the store's clock (Redis TIME, the process clock for SQLite and
   * memory), not the engine's: to get past it, real time must pass too.
   */
  async function pastGrace(clock: ManualClock, graceSeconds: number): Promise<void> {
    clock.advance(graceSeconds + 1);
    await new Promise((resolve) => setTimeout(resolve, graceSeconds * 1000 + 150));
  }

  it('honours the previous token with the same pair for as long as its successor is unused, whatever the time', async () => {
    const { engine, clock, events, session, tokens } = await withTokens({
      tokens: { refreshGraceSeconds: 0.2 },
    });
    const first = await engine.refresh(tokens.refreshToken);
    if (!first.ok) throw first.error;
    // An answer lost in an outage or a stall: the client retries long after the grace window.
    await pastGrace(clock, 0.2);
    clock.advance(40); // still within the 60 s idle timeout of the rotation
    const retry = await engine.refresh(tokens.refreshToken);
    if (!retry.ok) throw retry.error;
    assert.equal(retry.replayed, true);
    assert.equal(retry.tokens.refreshToken, first.tokens.refreshToken);
    assert.equal(retry.tokens.accessToken, first.tokens.accessToken);
    assert.equal((await engine.get(session.id))?.session.status, 'active');
    const next = await engine.refresh(retry.tokens.refreshToken);
    assert.equal(next.ok && !next.replayed, true);
    await engine.deliverEvents();
    assert.deepEqual(
      events.map((e) => e.type),
      ['created', 'refresh.rotated', 'refresh.rotated'],
    );
  });

  it('revokes only the session when a token comes back after its successor was used, past the grace window (thief, then victim)', async () => {
    const { engine, clock, events, session, tokens } = await withTokens({
      tokens: { refreshGraceSeconds: 0.2 },
    });
    const bystander = await engine.create({ subject: 'ada' });
    // The thief spends the stolen token, then the successor it got.
    const stolen = await engine.refresh(tokens.refreshToken);
    if (!stolen.ok) throw stolen.error;
    const thief = await engine.refresh(stolen.tokens.refreshToken);
    if (!thief.ok) throw thief.error;
    await pastGrace(clock, 0.2);
    const victim = await engine.refresh(tokens.refreshToken);
    assertInstanceOf(!victim.ok && victim.error, RefreshTokenReusedError);
    const after = await engine.refresh(thief.tokens.refreshToken);
    assertInstanceOf(!after.ok && after.error, SessionRevokedError);
    assertFields((await engine.get(session.id))?.session, {
      status: 'revoked',
      endReason: 'refresh-token-reused',
    });
    assert.equal((await engine.validate(bystander.token)).ok, true);
    await engine.deliverEvents();
    const types = events.filter((e) => e.session.id === session.id).map((e) => e.type);
    assert.deepEqual(types, [
      'created',
      'refresh.rotated',
      'refresh.rotated',
      'refresh.reused',
      'revoked',
    ]);
  });

  it('answers a token whose successor was just used with the current pair, within the grace window', async () => {
    const { engine, session, tokens } = await withTokens({ tokens: { refreshGraceSeconds: 60 } });
    // Tab A refreshes twice in a row; tab B's refresh with the first token arrives late.
    const a1 = await engine.refresh(tokens.refreshToken);
    if (!a1.ok) throw a1.error;
    const a2 = await engine.refresh(a1.tokens.refreshToken);
    if (!a2.ok) throw a2.error;
    const b = await engine.refresh(tokens.refreshToken);
    if (!b.ok) throw b.error;
    assert.equal(b.replayed, true);
    assert.equal(b.tokens.refreshToken, a2.tokens.refreshToken);
    assert.equal(b.tokens.accessToken, a2.tokens.accessToken);
    assert.equal((await engine.get(session.id))?.session.status, 'active');
  });

  it('revokes at once when an older ancestor is replayed, even within the grace window', async () => {
    const { engine, events, session, tokens } = await withTokens({
      tokens: { refreshGraceSeconds: 60 },
    });
    let token = tokens.refreshToken;
    for (let i = 0; i < 3; i++) {
      const r = await engine.refresh(token);
      if (!r.ok) throw r.error;
      token = r.tokens.refreshToken;
    }
    const replay = await engine.refresh(tokens.refreshToken); // three rotations back
    assertInstanceOf(!replay.ok && replay.error, RefreshTokenReusedError);
    assert.equal((await engine.get(session.id))?.session.status, 'revoked');
    await engine.deliverEvents();
    assertLength(
      events.filter((e) => e.type === 'refresh.reused'),
      1,
    );
  });

  it('refuses a token older than the family remembers as invalid-token, revoking nothing', async () => {
    const { engine, session, tokens } = await withTokens();
    let token = tokens.refreshToken;
    // Current + previous + 4 ancestors are remembered: six rotations forget the first token.
    for (let i = 0; i < 6; i++) {
      const r = await engine.refresh(token);
      if (!r.ok) throw r.error;
      token = r.tokens.refreshToken;
    }
    const forgotten = await engine.refresh(tokens.refreshToken);
    assertInstanceOf(!forgotten.ok && forgotten.error, InvalidTokenError);
    assert.equal((await engine.get(session.id))?.session.status, 'active');
    assert.equal((await engine.refresh(token)).ok, true);
  });

  it('tells a wrong secret for a real session nothing but invalid-token, whatever the session’s state', async () => {
    const { engine, clock, session, tokens } = await withTokens();
    const wrong = `skr_${session.id}.${'B'.repeat(43)}`;
    const active = await engine.refresh(wrong);
    assertInstanceOf(!active.ok && active.error, InvalidTokenError);
    await engine.revoke(session.id, 'logout');
    const revoked = await engine.refresh(wrong);
    assertInstanceOf(!revoked.ok && revoked.error, InvalidTokenError);
    if (revoked.ok || active.ok) return;
    assert.equal(revoked.error.message, active.error.message);
    assert.doesNotMatch(revoked.error.message, /revoked|logout|expired|activity/);
    // The right token still learns why the session ended.
    const right = await engine.refresh(tokens.refreshToken);
    assertFields(!right.ok && right.error, { revokedReason: 'logout' });

    const other = await withTokens();
    other.clock.advance(61);
    const expired = await other.engine.refresh(`skr_${other.session.id}.${'C'.repeat(43)}`);
    assertInstanceOf(!expired.ok && expired.error, InvalidTokenError);
    assert.ok(clock.now() > 0);
  });

  it('reports access-token lifetimes without losing a second', async () => {
    const { engine, clock } = await setup({ tokens: { accessTokenTtlSeconds: 3 } });
    clock.advance(0.5); // mid-second, as real clocks are
    const created = await engine.create({ subject: 'ada', tokens: true });
    assert.equal(created.tokens?.accessTokenExpiresIn, 3);
    assert.equal(created.tokens?.refreshTokenExpiresIn, 60);
    clock.advance(0.25);
    const refreshed = await engine.refresh(created.tokens?.refreshToken ?? '');
    assert.equal(refreshed.ok && refreshed.tokens.accessTokenExpiresIn, 3);
  });

  it('refuses refresh of ended, unknown or token-less sessions with the validation errors', async () => {
    const { engine, clock, session, tokens } = await withTokens({
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 100,
    });
    const plain = await engine.create({ subject: 'bob' });
    const noFamily = await engine.refresh(`skr_${plain.session.id}.${'A'.repeat(43)}`);
    assertInstanceOf(!noFamily.ok && noFamily.error, InvalidTokenError);
    const unknown = await engine.refresh(`skr_unknown-session-1.${'A'.repeat(43)}`);
    assertInstanceOf(!unknown.ok && unknown.error, SessionNotFoundError);
    const malformed = await engine.refresh(tokens.refreshToken.slice(0, -3));
    assertInstanceOf(!malformed.ok && malformed.error, InvalidTokenError);

    clock.advance(61);
    const idle = await engine.refresh(tokens.refreshToken);
    assertInstanceOf(!idle.ok && idle.error, SessionExpiredError);

    const second = await withTokens({ idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 100 });
    let token = second.tokens.refreshToken;
    for (let i = 0; i < 3; i++) {
      second.clock.advance(40);
      const r = await second.engine.refresh(token);
      if (r.ok) token = r.tokens.refreshToken;
    }
    const lifetime = await second.engine.refresh(token);
    assertInstanceOf(!lifetime.ok && lifetime.error, SessionLifetimeExceededError);

    const third = await withTokens();
    await third.engine.revoke(third.session.id, 'logout');
    const revoked = await third.engine.refresh(third.tokens.refreshToken);
    assertFields(!revoked.ok && revoked.error, { revokedReason: 'logout' });
    assert.ok(session.id);
  });

  it('never lets an access token outlive the session’s absolute deadline', async () => {
    const { engine, clock, tokens } = await withTokens({
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 300,
    });
    assert.equal(tokens.accessTokenExpiresIn, 300);
    clock.advance(331);
    const late = await engine.verifyAccessToken(tokens.accessToken);
    assertInstanceOf(!late.ok && late.error, AccessTokenExpiredError);
  });

  it('keeps signing keys in the store, rotates them, and publishes retired ones until their tokens expire', async () => {
    const { engine, clock, tokens } = await withTokens({
      tokens: { keyRotationIntervalSeconds: 3600, accessTokenTtlSeconds: 600 },
      absoluteTimeoutSeconds: 86400,
      idleTimeoutSeconds: 86400,
    });
    const firstKid = decodeProtectedHeader(tokens.accessToken).kid;
    assert.deepEqual(
      (await engine.jwks()).keys.map((k) => k.kid),
      [firstKid],
    );
    assertFields(await engine.store.loadKeyring(), { version: 1 });

    // Ten minutes before the first key's hour is up, its successor is published but not used.
    clock.advance(3600 - 600);
    const late = await engine.refresh(tokens.refreshToken);
    if (!late.ok) throw late.error;
    assert.equal(decodeProtectedHeader(late.tokens.accessToken).kid, firstKid);
    const [secondKid, ...older] = (await engine.jwks()).keys.map((k) => k.kid);
    assert.deepEqual(older, [firstKid]);
    assert.notEqual(secondKid, firstKid);

    clock.advance(600);
    const rotated = await engine.refresh(late.tokens.refreshToken);
    if (!rotated.ok) throw rotated.error;
    assert.equal(decodeProtectedHeader(rotated.tokens.accessToken).kid, secondKid);
    assert.equal((await engine.verifyAccessToken(late.tokens.accessToken)).ok, true);

    clock.advance(600 + 30 + 1);
    assert.deepEqual(
      (await engine.jwks()).keys.map((k) => k.kid),
      [secondKid],
    );
  });

  it('saves the keyring only over the version it read', async () => {
    const { engine } = await setup();
    const { store } = engine;
    assert.equal(await store.loadKeyring(), null);
    assert.equal(await store.saveKeyring(0, '{"keys":["a"]}'), true);
    assert.equal(await store.saveKeyring(0, '{"keys":["b"]}'), false);
    assert.deepEqual(await store.loadKeyring(), { version: 1, json: '{"keys":["a"]}' });
    const racers = await Promise.all([1, 2, 3].map((n) => store.saveKeyring(1, `{"n":${n}}`)));
    assertLength(racers.filter(Boolean), 1);
    assert.equal((await store.loadKeyring())?.version, 2);
  });

  it('with the denylist on, rejects access tokens of a revoked session at once', async () => {
    const plain = await withTokens();
    await plain.engine.revoke(plain.session.id);
    assert.equal((await plain.engine.verifyAccessToken(plain.tokens.accessToken)).ok, true);

    const strict = await withTokens({ tokens: { denylist: true } });
    assert.equal((await strict.engine.verifyAccessToken(strict.tokens.accessToken)).ok, true);
    await strict.engine.revoke(strict.session.id);
    const after = await strict.engine.verifyAccessToken(strict.tokens.accessToken);
    assertInstanceOf(!after.ok && after.error, SessionRevokedError);
  });
}
