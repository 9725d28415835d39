// Paced chaos over HTTP: the fake site's sessions live a minimum time plus a random
// exponential 0.2 s, and operations are spread over twelve mean lifetimes, so that most sessions
// die while in service and operations keep meeting expiries, in all four styles the site has (a
// 200 page with the words, a 302 to /login?reason=timeout, a 401, "Your Session Has Expired due
// to inactivity"), half of them as the answer to a form POST. The pool runs with its defaults
// (detectors, maxAttempts) and no operation may fail.
//
// The minimum lifetime is 0.2 s, or 8 times what an operation takes on this machine if that is
// more: a fresh session has to outlive one operation (a real site's sessions live minutes, its
// operations take a second), else a rerun meets an expiry again and again. On two free cores an
// operation takes a few ms and the test 5 s; under a load average of 25 an operation took 250 ms.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { EXPIRY_MODES, type ExpiryMode } from '../../examples/shared/fake-upstream.js';
import {
  createSessionPool,
  type HttpClient,
  type HttpSession,
  httpSessionKind,
} from '../../packages/pool/src/index.js';
import { signedInAs, startSite } from './http-site.js';

const RANDOM_LIFETIME_SECONDS = 0.2;
const LIFETIMES = 12;
const ACCOUNTS = 6;
const WORKERS = 6;

/** Looks at the appointments and the account page: both must be this account's. */
async function look(session: HttpSession, account: string): Promise<void> {
  const list = await (await session.fetch('/appointments')).text();
  const page = await (await session.fetch('/account')).text();
  if (signedInAs(list) !== account || signedInAs(page) !== account)
    throw new Error(`not signed in as ${account}`);
}

/**
 * Submits the booking form with a time no one can book: a logged-in user gets "Not available"
 * (409, signed in); a dead session gets the expiry as the answer to the POST.
 */
async function submit(session: HttpSession, account: string): Promise<void> {
  const response = await session.fetch('/appointments', {
    method: 'POST',
    form: { slot: 'never' },
  });
  const page = await response.text();
  if (response.status !== 409 || signedInAs(page) !== account)
    throw new Error(`the form's answer is not ${account}'s: ${response.status} ${response.url}`);
}

/**
 * The login form's post alone, not following its redirect: one round trip, so that a session
 * that lives 0.2 s at least is not half gone when the login hands it over on a busy machine.
 */
async function quickLogin(client: HttpClient): Promise<void> {
  const response = await client.fetch('/login', {
    method: 'POST',
    form: { username: client.key, password: 'secret' },
    redirect: 'manual',
  });
  const cookies = await client.jar.getCookies(client.baseUrl.href);
  if (response.status !== 302 || !cookies.some((cookie) => cookie.key === 'fa_session'))
    throw new Error(`login as ${client.key} failed: ${response.status}`);
}

interface Figures {
  mode: ExpiryMode;
  operations: number;
  posts: number;
  expiredAnswers: number;
  expiriesMet: number;
  recoveries: number;
  /** Attempts beyond the first, over all recovered operations: each one followed an expiry. */
  reruns: number;
  logins: number;
  failures: unknown[];
}

function poolFor(url: string) {
  const kind = httpSessionKind({
    baseUrl: url,
    login: quickLogin,
    probePath: '/account',
    concurrency: 2,
  });
  // Everything at its default but the sessions per key (a rerun can go to the sibling).
  return createSessionPool({ kind, sessionsPerKey: 2 });
}

/** Median time (s) of an operation with every worker of every style busy, sessions immortal. */
async function operationSeconds(): Promise<number> {
  const site = await startSite();
  const pool = poolFor(site.url);
  const times: number[] = [];
  try {
    await Promise.all(
      Array.from({ length: EXPIRY_MODES.length * WORKERS }, async (_, i) => {
        const account = `calibration${i % ACCOUNTS}`;
        for (let round = 0; round < 4; round++) {
          const started = performance.now();
          await pool.use(account, (session) =>
            round % 2 ? submit(session, account) : look(session, account),
          );
          if (round > 0) times.push((performance.now() - started) / 1000); // logged in by then
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0;
}

async function pacedRun(mode: ExpiryMode, minLifetimeSeconds: number): Promise<Figures> {
  const site = await startSite({
    meanLifetimeSeconds: RANDOM_LIFETIME_SECONDS,
    minLifetimeSeconds,
    expiryMode: mode,
  });
  // Everything at its default but the sessions per key (a rerun can go to the sibling).
  const pool = poolFor(site.url);
  const figures: Figures = {
    mode,
    operations: 0,
    posts: 0,
    expiredAnswers: 0,
    expiriesMet: 0,
    recoveries: 0,
    reruns: 0,
    logins: 0,
    failures: [],
  };
  pool.on('expired', (event) => {
    if (event.phase === 'operation') figures.expiriesMet++;
  });
  pool.on('recovered', (event) => {
    figures.recoveries++;
    figures.reruns += event.attempts - 1;
  });
  const lifetime = minLifetimeSeconds + RANDOM_LIFETIME_SECONDS;
  const endAt = performance.now() + LIFETIMES * lifetime * 1000;
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (performance.now() < endAt) {
          const n = next++;
          const account = `${mode}-user${n % ACCOUNTS}`;
          const post = n % 2 === 1;
          try {
            await pool.use(account, (session) =>
              post ? submit(session, account) : look(session, account),
            );
          } catch (error) {
            figures.failures.push(error);
          }
          figures.operations++;
          if (post) figures.posts++;
          // The pace: a little think time between a worker's operations.
          await sleep(5 + Math.random() * 25);
        }
      }),
    );
  } finally {
    await pool.close();
  }
  const stats = site.stats();
  figures.expiredAnswers = stats.expiredHits;
  figures.logins = stats.logins;
  return figures;
}

describe(`paced chaos: sessions live 0.4 s on average (more on a slow machine), operations spread over ${LIFETIMES} lifetimes`, () => {
  it(`no operation fails at the default maxAttempts, in all ${EXPIRY_MODES.length} expiry styles, form posts included`, async () => {
    const opSeconds = await operationSeconds();
    const minLifetime = Math.max(0.2, 8 * opSeconds);
    const runs = await Promise.all(EXPIRY_MODES.map((mode) => pacedRun(mode, minLifetime)));
    for (const run of runs) {
      console.info(
        `paced chaos (${run.mode}; an operation ${Math.round(opSeconds * 1000)} ms, sessions live ${minLifetime.toFixed(2)} s + ~${RANDOM_LIFETIME_SECONDS} s): ${run.operations} operations (${run.posts} form posts), ${run.expiredAnswers} expired answers, ${run.expiriesMet} expiries met in operations, ${run.recoveries} recoveries (${run.reruns} reruns), ${run.logins} logins, ${run.failures.length} failures`,
      );
    }
    for (const run of runs) {
      expect(run.failures.slice(0, 3).map(String), run.mode).toEqual([]);
      expect(run.failures, run.mode).toHaveLength(0);
      // Expiries really were met inside operations, and every one was recovered from: each
      // expiry met made an operation run again. (Not one recovery per expiry: on a slow machine
      // a rerun can meet a second expiry, and that operation recovers once, on its third attempt;
      // two operations sharing a session can meet its one expiry, reported once.)
      expect(run.expiriesMet, run.mode).toBeGreaterThanOrEqual(10);
      expect(run.reruns, run.mode).toBeGreaterThanOrEqual(run.expiriesMet);
      expect(run.operations, run.mode).toBeGreaterThanOrEqual(50);
    }
  }, 120_000);
});
