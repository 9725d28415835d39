import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ExpiryMode } from '../../examples/shared/fake-upstream.js';
import { createSessionPool, detectors, type HttpSession } from '../../packages/pool/src/index.js';
import { signedInAs, siteKind, startSite } from './http-site.js';

const OPERATIONS = 1000;
const CONCURRENCY = 20;
const ACCOUNTS = Array.from({ length: 20 }, (_, i) => `user${i}`);

/** One caller's work: two pages that need the session, some think time between them. */
async function checkAppointments(session: HttpSession, account: string): Promise<string> {
  const first = await session.fetch('/appointments');
  const firstPage = await first.text();
  await sleep(20 + Math.random() * 40);
  const second = await session.fetch('/account');
  const secondPage = await second.text();
  // The answers must really be the logged-in pages of this account, not an expiry page.
  if (signedInAs(firstPage) !== account || signedInAs(secondPage) !== account) {
    throw new Error(`not signed in as ${account}: ${first.status} ${second.status}`);
  }
  return account;
}

describe('chaos: the upstream expires sessions at random (mean lifetime 2 s)', () => {
  for (const mode of ['page', '401', 'redirect'] as ExpiryMode[]) {
    it(`${OPERATIONS} operations at concurrency ${CONCURRENCY} all succeed (expiry as ${mode})`, async () => {
      const site = await startSite({ meanLifetimeSeconds: 2, expiryMode: mode });
      const registry = new Registry();
      const pool = createSessionPool({
        kind: siteKind(site, { concurrency: 3 }),
        detectors: [detectors.status(), detectors.loginRedirect('/login'), detectors.text()],
        sessionsPerKey: 2,
        maxSessions: 40,
        // A fresh session dies during one ~50 ms operation with p ~ 1 - e^(-0.05/2) ~ 2.5%, so
        // an operation whose session expired fails after n attempts with p ~ 0.025^(n-1): with the
        // default 3 that is ~6e-4 per recovery, a few percent per run of this test. 5 attempts
        // (~4e-7) is the setting for an upstream this hostile. Runs on siblings that expired
        // unnoticed do not count (see maxAttempts).
        maxAttempts: 5,
        registry,
      });
      let recovered = 0;
      pool.on('recovered', () => recovered++);

      let next = 0;
      const failures: unknown[] = [];
      const answers: string[] = [];
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < OPERATIONS) {
            const account = ACCOUNTS[next++ % ACCOUNTS.length] as string;
            try {
              answers.push(await pool.use(account, (s) => checkAppointments(s, account)));
            } catch (error) {
              failures.push(error);
            }
          }
        }),
      );
      await pool.close();

      expect(failures).toEqual([]);
      expect(answers).toHaveLength(OPERATIONS);
      // The chaos really happened (~20 sessions for ~2.5 s at a mean lifetime of 2 s: about 20
      // expiries expected, fewer than 5 has p < 1e-4), and the pool hid it.
      const stats = site.stats();
      expect(stats.expiredHits).toBeGreaterThanOrEqual(5);
      expect(recovered).toBeGreaterThanOrEqual(5);
      const metrics = await registry.getMetricsAsJSON();
      const replaced = metrics.find((m) => m.name === 'sessionkeeper_pool_sessions_replaced_total');
      const total = replaced?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
      expect(total).toBeGreaterThanOrEqual(5);
    });
  }
});
