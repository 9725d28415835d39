// In real Chromium: an expiry detected inside a browser operation ends that operation within
// 1 s, in every way the fake site says "expired" (a 200 page with the words, a 302 to
// /login?reason=timeout, a 401, "Your Session Has Expired due to inactivity"), whether the
// operation met it by following a link or by submitting a form whose answer is the expiry. The
// operation goes on to wait for what only a logged-in user sees, which never comes: without the
// pool ending it, it would wait out Playwright's 30 s timeout. The pool's default detectors are
// used, so the login redirect and the login form are caught without naming them.
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXPIRY_MODES,
  type ExpiryMode,
  type FakeUpstream,
  startFakeUpstream,
} from '../../examples/shared/fake-upstream.js';
import {
  type BrowserSession,
  browserSessionKind,
  DEFAULT_CHROMIUM_ARGS,
} from '../../packages/pool/src/browser/index.js';
import {
  createSessionPool,
  type Detector,
  defaultDetectors,
} from '../../packages/pool/src/index.js';
import { chromiumAvailable, processesOf } from './chromium.js';

const available = chromiumAvailable('the browser expiry tests');

/** Tries per expiry style: half follow a link, half submit a form (40 in all, in CI's budget). */
const TRIES = 10;

/** The p-th percentile (0-100) of `values`, nearest rank. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe.skipIf(!available)('an expiry met inside a browser operation', () => {
  // One site per style, so that the four styles run side by side in one pool and one browser.
  const sites = new Map<ExpiryMode, FakeUpstream>();
  beforeAll(async () => {
    for (const mode of EXPIRY_MODES) sites.set(mode, await startFakeUpstream({ expiryMode: mode }));
  });
  afterAll(async () => {
    await Promise.all([...sites.values()].map((site) => site.close()));
  });

  it(`ends the operation within 1 s of its detection, in all ${EXPIRY_MODES.length} styles, ${TRIES} tries each (link and form post)`, async () => {
    const marker = `expiry-${process.pid}-${Date.now()}`;
    const modeOf = (url: string) =>
      [...sites].find(([, site]) => url.startsWith(site.url))?.[0] as ExpiryMode;
    const kind = browserSessionKind({
      // The form post through the context's request API: fast, and the same cookie jar.
      async login(page, { key }) {
        const site = sites.get(key as ExpiryMode) as FakeUpstream;
        const response = await page.request.post(`${site.url}/login`, {
          form: { username: key, password: 'secret' },
        });
        if (!(await response.text()).includes(`data-user="${key}"`))
          throw new Error(`login as ${key} failed: ${response.status()}`);
      },
      probeUrl: `${sites.get('page')?.url}/account`,
      launchOptions: {
        args: [...DEFAULT_CHROMIUM_ARGS],
        env: { ...process.env, SESSIONKEEPER_BROWSER_TEST: marker },
      },
      // Playwright's default: what an operation waiting on a logged-out page would wait.
      timeoutSeconds: 30,
    });
    // The defaults, each wrapped to note when it fired (the detection), per style.
    const detectedAt = new Map<ExpiryMode, number>();
    const detectors: Detector[] = defaultDetectors().map((detect) => async (response) => {
      const verdict = await detect(response);
      const mode = modeOf(response.url);
      if (verdict && !detectedAt.has(mode)) detectedAt.set(mode, performance.now());
      return verdict;
    });
    // Two sessions per key: the rerun goes to the sibling while the expired one is replaced.
    const pool = createSessionPool({
      kind,
      detectors,
      background: false,
      sessionsPerKey: 2,
      maxSessions: 8,
    });
    // The first attempt is over (the pool stopped waiting for it) when its expiry is reported.
    const ended = new Map<ExpiryMode, { at: number; reason: string }>();
    pool.on('expired', (event) => {
      const mode = event.key as ExpiryMode;
      if (!ended.has(mode)) ended.set(mode, { at: performance.now(), reason: event.reason });
    });
    const ends: { mode: string; how: string; reason: string; ms: number }[] = [];
    const failures: string[] = [];
    const tryMs: number[] = [];

    const tryStyle = async (mode: ExpiryMode) => {
      const site = sites.get(mode) as FakeUpstream;
      for (let n = 0; n < TRIES; n++) {
        const how = n % 2 === 0 ? 'form post' : 'link';
        detectedAt.delete(mode);
        ended.delete(mode);
        const started = performance.now();
        const user = await pool.use(mode, async (session: BrowserSession, { attempt }) => {
          const { page } = session;
          if (attempt > 1) {
            await session.goto(`${site.url}/account`);
          } else if (how === 'form post') {
            await session.goto(`${site.url}/appointments`);
            // The site forgets this session (as if it timed out): the post's answer is the expiry.
            await session.context.clearCookies();
            // Booking no time at all: a logged-in user would get "Not available" (409).
            await page.click('form[action="/appointments"] button[type="submit"]');
          } else {
            await session.goto(`${site.url}/account`);
            await session.context.clearCookies();
            await page.click('a[href="/appointments"]');
          }
          // What only a logged-in user sees; a logged-out page never shows it.
          return page.getAttribute('p.signed-in [data-user]', 'data-user');
        });
        if (user !== mode) failures.push(`${mode} ${how} ${n}: got ${user}`);
        const detected = detectedAt.get(mode);
        const end = ended.get(mode);
        if (detected === undefined || end === undefined) {
          failures.push(`${mode} ${how} ${n}: no expiry detected`);
          continue;
        }
        // A run left waiting on the logged-out page would end (and report) 30 s after it.
        ends.push({ mode, how, reason: end.reason, ms: end.at - detected });
        tryMs.push(performance.now() - started);
      }
    };
    try {
      await Promise.all(EXPIRY_MODES.map(tryStyle));
    } finally {
      await pool.close();
    }
    expect(failures).toEqual([]);
    expect(ends).toHaveLength(EXPIRY_MODES.length * TRIES);
    // Which default detector caught each style.
    const reasons = Object.fromEntries(
      EXPIRY_MODES.map((mode) => [
        mode,
        [...new Set(ends.filter((e) => e.mode === mode).map((e) => e.reason))],
      ]),
    );
    expect(reasons).toEqual({
      page: ['text-marker'],
      '401': ['status-401'],
      redirect: ['login-form'],
      inactivity: ['text-marker'],
    });
    const ms = ends.map((e) => e.ms);
    const slowest = ends.reduce((a, b) => (b.ms > a.ms ? b : a));
    console.info(
      `browser expiry, detection to the operation's end over ${ms.length} tries: p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms, max ${slowest.ms.toFixed(1)} ms (${slowest.mode}, ${slowest.how}); a whole try (expiry, rerun on the sibling) p50 ${Math.round(percentile(tryMs, 50))} ms`,
    );
    expect(slowest.ms).toBeLessThan(1000);
    expect(processesOf(marker)).toEqual([]);
    // About 8 page actions and one login per try, 4 styles side by side: 20-40 s on 2 free
    // cores; with a load average of 30 on 2 cores a try took 19 s (7 min in all). The limit is
    // twice that, only so that a stuck run ends; the 1 s bound above is what this test is about.
  }, 900_000);
});
