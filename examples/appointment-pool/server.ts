/**
 * A small service that checks and books appointments on an upstream website through logged-in
 * sessions that `@sessionkeeper/pool` keeps healthy, while the website expires them at random.
 * `npm run example:pool`, then see README.md in this folder for what to try.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createSessionPool,
  engineStateStore,
  type HttpClient,
  type HttpSession,
  httpSessionKind,
} from '@sessionkeeper/pool';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createSqliteStore } from 'sessionkeeper/sqlite';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import {
  SessionkeeperError,
  ValidationError,
} from '../../packages/sessionkeeper/src/core/errors.js';
import {
  instancePath,
  PROBLEM_CONTENT_TYPE,
  problemHeaders,
  toProblem,
} from '../../packages/sessionkeeper/src/core/problem.js';
import { type ExpiryMode, startFakeUpstream } from '../shared/fake-upstream.js';

const PORT = Number(process.env.PORT ?? 3001);
const HOST = process.env.HOST ?? '127.0.0.1';
/** Mean lifetime of an upstream login session, seconds: short, so expiries happen while you watch. */
const LIFETIME_SECONDS = Number(process.env.UPSTREAM_LIFETIME_SECONDS ?? 8);
/**
 * How the upstream says "expired": `page` (200 with the words), `401`, `redirect` (to
 * /login?reason=timeout) or `inactivity` (200 "Your Session Has Expired due to inactivity").
 */
const EXPIRY_MODE = (process.env.UPSTREAM_EXPIRY ?? 'page') as ExpiryMode;
const DATA_DIR = process.env.DATA_DIR ?? fileURLToPath(new URL('./data/', import.meta.url));

const logger = pino({ level: process.env.SESSIONKEEPER_LOG_LEVEL ?? 'info' });

// The "third-party" website, in this process for the demo. In real life it is someone else's site.
const site = await startFakeUpstream({
  meanLifetimeSeconds: LIFETIME_SECONDS,
  expiryMode: EXPIRY_MODE,
});

// Upstream cookies persist in SQLite through a sessionkeeper engine: a restart resumes logged in.
await mkdir(DATA_DIR, { recursive: true });
const engine = await createSessionEngine({
  store: createSqliteStore({ path: join(DATA_DIR, 'pool-state.db') }),
  logger: logger.child({ component: 'engine' }),
});

/** The app's part: how an account logs in to the upstream. Throwing counts as a failed login. */
async function login(client: HttpClient): Promise<void> {
  const response = await client.fetch('/login', {
    method: 'POST',
    form: { username: client.key, password: process.env.UPSTREAM_PASSWORD ?? 'secret' },
  });
  if (!(await response.text()).includes('Signed in as')) {
    throw new Error(`the upstream refused the login of ${client.key} (${response.status})`);
  }
}

const registry = new Registry();
const pool = createSessionPool({
  kind: httpSessionKind({ baseUrl: site.url, login, probePath: '/account' }),
  // The default detectors: a 401/403/419/440, a redirect to where `login` posts (/login) or a
  // login form, then the expiry phrases. Add `detectors.text([...])` for a site's own wording.
  state: engineStateStore(engine, { namespace: 'appointments' }),
  sessionsPerKey: 2,
  maxSessions: 20,
  checkIntervalSeconds: 5,
  refreshIntervalSeconds: 30,
  logger: logger.child({ component: 'pool' }),
  registry,
  name: 'appointments',
});

type Appointments = { user: string; available: string[]; booked: { id: string; slot: string }[] };
type Booking = { user: string; id: string; slot: string };

const asJson = { headers: { accept: 'application/json' } };

async function checkAppointments(session: HttpSession): Promise<Appointments> {
  const response = await session.fetch('/appointments', asJson);
  return response.json<Appointments>();
}

async function makeAppointment(
  session: HttpSession,
  slot: string,
): Promise<{ ok: true; booking: Booking } | { ok: false; status: number }> {
  const response = await session.fetch('/appointments', {
    ...asJson,
    method: 'POST',
    form: { slot },
  });
  if (response.status !== 200) return { ok: false, status: response.status };
  return { ok: true, booking: await response.json<Booking>() };
}

function account(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new ValidationError(
      'account',
      'is required (any name: the fake site accepts every account)',
    );
  return value;
}

const app = Fastify();

app.get(
  '/check_appointments',
  async (request: FastifyRequest<{ Querystring: { account?: string } }>) => {
    const name = account(request.query.account);
    return pool.use(name, checkAppointments);
  },
);

app.post(
  '/make_appointment',
  async (request: FastifyRequest<{ Body: { account?: string; slot?: string } }>, reply) => {
    const name = account(request.body?.account);
    const slot = request.body?.slot;
    if (typeof slot !== 'string')
      throw new ValidationError('slot', 'is required, e.g. 2026-03-02T09:00');
    const outcome = await pool.use(name, (session) => makeAppointment(session, slot));
    if (outcome.ok) return reply.code(201).send(outcome.booking);
    // The upstream's own answer (taken, unknown time): an expected outcome, told as a problem.
    return reply
      .code(409)
      .type(PROBLEM_CONTENT_TYPE)
      .send({
        type: '/problems/slot-unavailable',
        title: 'Slot unavailable',
        status: 409,
        detail: `The upstream would not book ${slot} (it answered ${outcome.status}); check_appointments lists the free times`,
        action: 'fix-request',
      });
  },
);

// The pool as a service, as the original system had it: its state per account. Everything
// comes from pool.stats(); it holds no cookie or token, so it is safe to show to operators.
app.get('/pool', async () => {
  const { keys, ...totals } = pool.stats();
  return {
    breaker: totals.breaker,
    totals,
    accounts: keys.map((key) => ({
      account: key.key,
      sessions: key.sessions.map((session) => ({
        slot: session.slotId,
        state: session.state,
        uses: session.uses,
        ageSeconds: Math.round(session.ageSeconds),
        lastCheckedAt: session.lastCheckedAt,
        lastUsedAt: session.lastUsedAt,
      })),
      waiting: key.waiting,
      loggingIn: key.loggingIn,
      expiries: key.expiries,
      recoveries: key.recoveries,
    })),
    upstream: site.stats(), // the demo's fake site, to compare with
  };
});
app.get('/metrics', async (_request, reply) =>
  reply.type(registry.contentType).send(await registry.metrics()),
);
app.post('/upstream/expire', async () => ({ expired: site.expireSessions() }));
app.post('/upstream/down', async () => {
  site.setLoginFailing(true);
  return { loginFailing: true };
});
app.post('/upstream/up', async () => {
  site.setLoginFailing(false);
  return { loginFailing: false };
});

// Failures from the pool (pool-timeout, upstream-unavailable, upstream-kept-expiring, ...) become
// problem+json, with Retry-After where the error says how long to wait.
app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
  const known =
    error instanceof SessionkeeperError
      ? error
      : (error as { validation?: unknown }).validation
        ? new ValidationError('body', String((error as Error).message))
        : undefined;
  if (!known) {
    request.log.error({ err: error }, 'unexpected failure');
    return reply.code(500).type(PROBLEM_CONTENT_TYPE).send({
      type: '/problems/internal-error',
      title: 'Internal error',
      status: 500,
      action: 'retry',
    });
  }
  return reply
    .code(known.status)
    .headers(problemHeaders(known))
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(known, { instance: instancePath(request.url) }));
});

await app.listen({ port: PORT, host: HOST });
console.log(
  `appointment service on http://${HOST}:${PORT}  (upstream site ${site.url}, sessions live ~${LIFETIME_SECONDS} s, expiry as ${EXPIRY_MODE})`,
);
console.log(`try: curl 'http://${HOST}:${PORT}/check_appointments?account=alice'`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await app.close();
      await pool.close(); // saves the live sessions' cookies for the next start
      await engine.close();
      await site.close();
      process.exit(0);
    })();
  });
}
