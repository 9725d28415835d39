// A fake appointment website for the pool's tests, benchmark and example: a real node:http server
// with a login form, cookie sessions that die after a short random lifetime, and the ways such
// sites say "expired" (a 200 page with the words, a 401, a redirect to the login form, a 200
// "Your Session Has Expired due to inactivity" page).
// Not exported from sessionkeeper/testing (a test fixture, not part of the store contract): import it by path.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How an expired (or missing) session is answered: `page`, a 200 page saying "You are either not
 * logged in or your session has expired" (or "Please use your back button", in turn); `401`, the
 * same page with status 401; `redirect`, a 302 to `/login?reason=timeout` (the login form);
 * `inactivity`, a 200 page "Your Session Has Expired due to inactivity".
 */
export type ExpiryMode = 'page' | '401' | 'redirect' | 'inactivity';

/** Every way the fake site says "expired". */
export const EXPIRY_MODES: readonly ExpiryMode[] = ['page', '401', 'redirect', 'inactivity'];

export interface FakeUpstreamOptions {
  /** Mean of the exponential random lifetime of each login session, in seconds. Default: no limit. */
  meanLifetimeSeconds?: number;
  /**
   * No session dies younger than this (seconds; then the random lifetime starts, so the mean
   * lifetime is this plus `meanLifetimeSeconds`). Real sites' sessions live at least minutes;
   * tests with very short lifetimes use it so that a fresh session survives one operation.
   * Default 0.
   */
  minLifetimeSeconds?: number;
  /** A session not used for this many seconds expires. Default: no limit. */
  idleTimeoutSeconds?: number;
  /** Default `page`: 200 HTML saying "You are either not logged in or your session has expired". */
  expiryMode?: ExpiryMode;
  /** username -> password. Default: any username, password `secret`. */
  accounts?: Record<string, string>;
  /** Seconds POST /login takes (a slow upstream login). Default 0. */
  loginDelaySeconds?: number;
}

export interface FakeUpstreamStats {
  /** Successful logins. */
  logins: number;
  /** POST /login requests, whatever their outcome. */
  loginAttempts: number;
  /** Most logins of one username in progress at once. */
  maxConcurrentLogins: number;
  /** Every request. */
  requests: number;
  /** Requests answered as expired (stale, missing or unknown session). */
  expiredHits: number;
  /** Sessions alive now. */
  activeSessions: number;
  bookings: number;
}

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  stats(): FakeUpstreamStats;
  /** Requests made to `path` (without query), e.g. `/account`. */
  requestsTo(path: string): number;
  /** Ends the live sessions of `username` (all users when omitted); returns how many. */
  expireSessions(username?: string): number;
  setExpiryMode(mode: ExpiryMode): void;
  /** Lifetime of sessions made from now on; `undefined`: no limit. */
  setMeanLifetime(seconds: number | undefined): void;
  /** While true, POST /login answers 503 (the upstream is down). */
  setLoginFailing(failing: boolean): void;
  /** Zeroes the counters. */
  resetStats(): void;
  /** Stops the server (idempotent): the port refuses connections from then on. */
  close(): Promise<void>;
}

interface UpstreamSession {
  username: string;
  expiresAt: number;
  lastSeenAt: number;
}

const COOKIE = 'fa_session';
const SLOTS = Array.from({ length: 5 }, (_, day) =>
  Array.from(
    { length: 8 },
    (_, hour) =>
      `2026-03-${String(day + 2).padStart(2, '0')}T${String(hour + 9).padStart(2, '0')}:00`,
  ),
).flat();

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const sessions = new Map<string, UpstreamSession>();
  const loginsInFlight = new Map<string, number>();
  const bookings = new Map<string, { id: string; slot: string; username: string }>();
  const pathCounts = new Map<string, number>();
  let mode: ExpiryMode = options.expiryMode ?? 'page';
  let meanLifetime = options.meanLifetimeSeconds;
  let loginFailing = false;
  let expiryVariant = 0;
  let nextBooking = 1;
  const stats = {
    logins: 0,
    loginAttempts: 0,
    maxConcurrentLogins: 0,
    requests: 0,
    expiredHits: 0,
    bookings: 0,
  };

  const minLifetimeMs = (options.minLifetimeSeconds ?? 0) * 1000;
  const lifetimeMs = () =>
    meanLifetime === undefined
      ? Number.POSITIVE_INFINITY
      : minLifetimeMs - Math.log(1 - Math.random()) * meanLifetime * 1000;

  /** The live session of the request, or undefined (and the session dropped if it just died). */
  const sessionOf = (req: IncomingMessage): UpstreamSession | undefined => {
    const id = cookieValue(req.headers.cookie, COOKIE);
    if (id === undefined) return undefined;
    const session = sessions.get(id);
    if (!session) return undefined;
    const now = Date.now();
    const idle = options.idleTimeoutSeconds;
    if (
      now >= session.expiresAt ||
      (idle !== undefined && now - session.lastSeenAt >= idle * 1000)
    ) {
      sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = now;
    return session;
  };

  const expired = (req: IncomingMessage, res: ServerResponse) => {
    stats.expiredHits++;
    if (mode === 'redirect') {
      const next = encodeURIComponent(req.url ?? '/');
      res.writeHead(302, { location: `/login?reason=timeout&next=${next}` }).end();
      return;
    }
    if (mode === 'inactivity') {
      html(
        res,
        200,
        'Session Expired',
        '<div class="notice"><h2>Your Session Has Expired</h2><p>due to inactivity.</p><p><a href="/login">Return to the start page</a></p></div>',
      );
      return;
    }
    // The two pages the real site shows, in turn.
    const body =
      expiryVariant++ % 2 === 0
        ? '<h1>Session error</h1><p>You are either not logged in or your session has expired.</p><p><a href="/login">Log in</a></p>'
        : '<h1>Error</h1><p>This page cannot be shown right now.</p><p>Please use your back button to return to the previous page.</p>';
    html(res, mode === '401' ? 401 : 200, 'Session error', body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.requests++;
    const url = new URL(req.url ?? '/', 'http://upstream');
    pathCounts.set(url.pathname, (pathCounts.get(url.pathname) ?? 0) + 1);
    const route = `${req.method} ${url.pathname}`;

    if (route === 'GET /' || route === 'GET /login') {
      html(res, 200, 'Log in', loginForm(url.searchParams.get('next') ?? '/account'));
      return;
    }
    if (route === 'POST /login') {
      await login(req, res);
      return;
    }
    const session = sessionOf(req);
    if (!session) {
      await readBody(req);
      expired(req, res);
      return;
    }
    const wantsJson = (req.headers.accept ?? '').startsWith('application/json');
    if (route === 'GET /account') {
      html(
        res,
        200,
        'Your account',
        `<h1>Your account</h1>${signedIn(session.username)}<p><a href="/appointments">Appointments</a></p>`,
      );
      return;
    }
    if (route === 'GET /appointments') {
      const available = SLOTS.filter(
        (slot) => ![...bookings.values()].some((b) => b.slot === slot),
      );
      const mine = [...bookings.values()].filter((b) => b.username === session.username);
      if (wantsJson) {
        json(res, 200, {
          user: session.username,
          available,
          booked: mine.map(({ id, slot }) => ({ id, slot })),
        });
        return;
      }
      html(
        res,
        200,
        'Appointments',
        `<h1>Appointments</h1>${signedIn(session.username)}<h2>Available</h2><ul>${available.map((s) => `<li data-slot="${s}">${s}</li>`).join('')}</ul><h2>Booked</h2><ul>${mine.map((b) => `<li data-booking="${b.id}">${b.slot}</li>`).join('')}</ul><form method="post" action="/appointments"><input name="slot"><button type="submit">Book</button></form>`,
      );
      return;
    }
    if (route === 'POST /appointments') {
      const slot = new URLSearchParams(await readBody(req)).get('slot') ?? '';
      if (!SLOTS.includes(slot) || [...bookings.values()].some((b) => b.slot === slot)) {
        html(
          res,
          409,
          'Not available',
          `<h1>Not available</h1>${signedIn(session.username)}<p>The time ${escapeHtml(slot)} cannot be booked.</p>`,
        );
        return;
      }
      const id = `B${nextBooking++}`;
      bookings.set(id, { id, slot, username: session.username });
      stats.bookings++;
      res.writeHead(303, { location: `/appointments/${id}` }).end();
      return;
    }
    const booking = /^\/appointments\/(B\d+)$/.exec(url.pathname);
    if (req.method === 'GET' && booking) {
      const found = bookings.get(booking[1] ?? '');
      if (!found || found.username !== session.username) {
        html(res, 404, 'Not found', '<h1>Not found</h1>');
        return;
      }
      if (wantsJson) {
        json(res, 200, { user: session.username, id: found.id, slot: found.slot });
        return;
      }
      html(
        res,
        200,
        'Booked',
        `<h1>Booked</h1>${signedIn(session.username)}<p>Appointment <b data-booking="${found.id}">${found.id}</b> at ${found.slot}.</p>`,
      );
      return;
    }
    if (route === 'POST /logout') {
      const id = cookieValue(req.headers.cookie, COOKIE);
      if (id !== undefined) sessions.delete(id);
      res
        .writeHead(302, { location: '/login', 'set-cookie': `${COOKIE}=; Path=/; Max-Age=0` })
        .end();
      return;
    }
    html(res, 404, 'Not found', '<h1>Not found</h1>');
  };

  const login = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    stats.loginAttempts++;
    const form = new URLSearchParams(await readBody(req));
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const inFlight = (loginsInFlight.get(username) ?? 0) + 1;
    loginsInFlight.set(username, inFlight);
    stats.maxConcurrentLogins = Math.max(stats.maxConcurrentLogins, inFlight);
    try {
      if (options.loginDelaySeconds) await sleep(options.loginDelaySeconds * 1000);
      if (loginFailing) {
        html(
          res,
          503,
          'Unavailable',
          '<h1>Service unavailable</h1><p>The service is down for maintenance.</p>',
        );
        return;
      }
      const expected = options.accounts ? options.accounts[username] : 'secret';
      if (username.length === 0 || expected === undefined || password !== expected) {
        html(
          res,
          200,
          'Log in',
          loginForm(form.get('next') ?? '/account', 'Wrong username or password.'),
        );
        return;
      }
      const id = randomBytes(18).toString('base64url');
      const now = Date.now();
      sessions.set(id, { username, expiresAt: now + lifetimeMs(), lastSeenAt: now });
      stats.logins++;
      const next = form.get('next') ?? '/account';
      res
        .writeHead(302, {
          location: next.startsWith('/') ? next : '/account',
          'set-cookie': `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`,
        })
        .end();
    } finally {
      loginsInFlight.set(username, (loginsInFlight.get(username) ?? 1) - 1);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats, activeSessions: countLive(sessions) }),
    requestsTo: (path) => pathCounts.get(path) ?? 0,
    expireSessions(username) {
      let count = 0;
      for (const [id, session] of sessions) {
        if (username === undefined || session.username === username) {
          sessions.delete(id);
          count++;
        }
      }
      return count;
    },
    setExpiryMode: (next) => {
      mode = next;
    },
    setMeanLifetime: (seconds) => {
      meanLifetime = seconds;
    },
    setLoginFailing: (failing) => {
      loginFailing = failing;
    },
    resetStats() {
      for (const name of Object.keys(stats) as (keyof typeof stats)[]) stats[name] = 0;
      pathCounts.clear();
    },
    // Idempotent: a test takes the site down, and its cleanup closes it again.
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      });
      return closing;
    },
  };
}

function countLive(sessions: Map<string, UpstreamSession>): number {
  const now = Date.now();
  let live = 0;
  for (const session of sessions.values()) if (now < session.expiresAt) live++;
  return live;
}

function signedIn(username: string): string {
  return `<p class="signed-in">Signed in as <b data-user="${escapeHtml(username)}">${escapeHtml(username)}</b> · <form method="post" action="/logout" style="display:inline"><button type="submit">Log out</button></form></p>`;
}

function loginForm(next: string, error?: string): string {
  return `<h1>Log in</h1>${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}<form method="post" action="/login"><input type="hidden" name="next" value="${escapeHtml(next)}"><label>Username <input name="username" autocomplete="username"></label><label>Password <input name="password" type="password" autocomplete="current-password"></label><button type="submit">Log in</button></form>`;
}

function html(res: ServerResponse, status: number, title: string, body: string): void {
  res
    .writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
    .end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · Fake Appointments</title></head><body>${body}</body></html>`,
    );
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
