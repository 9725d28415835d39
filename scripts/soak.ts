/**
 * Fault soak (`npm run soak`; not part of `npm test`): steady load of create / validate / refresh
 * against the CLI server (`sessionkeeper serve`, run from source) while the server is SIGKILLed
 * five times at random and restarted, and, on Redis (a redis-server this script starts with AOF
 * `appendfsync always`, so every acknowledged write survives), while Redis is SIGKILLed once and
 * SIGSTOPped once for longer than the refresh grace window. Then every acknowledged session and
 * refresh token is checked. Prints acknowledged vs lost, sessions revoked by faults, and the
 * latency of 503 answers. Exits 1 when a target is missed.
 *
 *   npm run soak                          both stores, 90 s of load each
 *   npm run soak -- --stores redis --seconds 60 --rate 200
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type RedisServerProcess,
  sparePort,
  startRedisServer,
} from '../test/redis/redis-server.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const API_KEY = 'soak-api-key-0123456789abcdef';
/** The refresh grace window the server runs with; the Redis stall lasts longer. */
const GRACE_SECONDS = 2;
const STALL_MS = 5000;
/** The documented bound for an answer while the store is down. */
const BOUND_503_MS = 2000;
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_IN_FLIGHT = 300;

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'sqlite,redis' },
    seconds: { type: 'string', default: '90' },
    rate: { type: 'string', default: '200' },
  },
});
const STORES = (values.stores ?? '').split(',').filter(Boolean);
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
for (const store of STORES) {
  if (store !== 'sqlite' && store !== 'redis') throw new Error(`--stores: unknown store ${store}`);
}
if (!(SECONDS >= 20) || !(RATE > 0)) throw new Error('--seconds must be >= 20 and --rate > 0');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `sessionkeeper serve` from source on a fixed port, restartable. */
class Server {
  #child: ChildProcess | null = null;
  readonly url: string;

  constructor(
    readonly port: number,
    readonly store: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const args = [
      '-C',
      'sessionkeeper-source',
      '--import',
      'tsx',
      'packages/server/src/cli/main.ts',
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--store',
      this.store,
      '--api-key',
      API_KEY,
      '--refresh-grace',
      `${GRACE_SECONDS}s`,
      '--rate-limit-failures',
      '0',
      '--log-level',
      'error',
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'ignore' });
    this.#child = child;
    // Start-up compiles the sources with tsx: on a busy machine that takes a while.
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
      const ready = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return;
      await sleep(100);
    }
    throw new Error('serve did not become ready within 180 s');
  }

  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Waits until the server answers /readyz (the store is reachable again). */
  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ok = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await sleep(100);
    }
    throw new Error('the server did not become ready again');
  }
}

interface Held {
  id: string;
  token: string;
  /** The latest refresh token the server acknowledged (a 200 reached us). */
  refreshToken: string;
  busy: boolean;
  /** Set once the session was refused with something other than a fault. */
  ended: string | null;
}

interface Outcome {
  status: number;
  code: string | null;
  ms: number;
  body: Record<string, unknown> | null;
}

class Stats {
  requests = 0;
  sessionsAcknowledged = 0;
  refreshesAcknowledged = 0;
  connectionErrors = 0;
  timeouts = 0;
  /** Latency of every 503, with the fault under way when the request started. */
  readonly unavailable: { ms: number; fault: string; detail: string }[] = [];
  readonly otherAnswers = new Map<string, number>();
  readonly revokedByFaults = new Set<string>();
  readonly lostSessions = new Set<string>();
  readonly lostRefreshTokens = new Set<string>();

  other(key: string): void {
    this.otherAnswers.set(key, (this.otherAnswers.get(key) ?? 0) + 1);
  }
}

async function request(
  stats: Stats,
  url: string,
  init: { method: string; token?: string; body?: unknown },
  fault: () => string,
): Promise<Outcome | null> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  const during = fault();
  stats.requests++;
  try {
    const response = await fetch(url, {
      method: init.method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    const ms = performance.now() - started;
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    const code = typeof body?.code === 'string' ? body.code : null;
    if (response.status === 503) {
      stats.unavailable.push({ ms, fault: during, detail: String(body?.detail ?? '') });
    }
    return { status: response.status, code, ms, body };
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') stats.timeouts++;
    else stats.connectionErrors++;
    return null;
  }
}

/** Sorts a refusal of one of our sessions: none of them is ever ended on purpose. */
function judge(stats: Stats, held: Held, outcome: Outcome, what: 'validate' | 'refresh'): void {
  switch (outcome.code) {
    case 'REFRESH_TOKEN_REUSED':
    case 'SESSION_REVOKED':
      stats.revokedByFaults.add(held.id);
      held.ended = outcome.code;
      return;
    case 'SESSION_NOT_FOUND':
      stats.lostSessions.add(held.id);
      held.ended = outcome.code;
      return;
    case 'INVALID_TOKEN':
      if (what === 'refresh') {
        stats.lostRefreshTokens.add(held.id);
        held.ended = outcome.code;
        return;
      }
      break;
  }
  stats.other(`${what} ${outcome.status} ${outcome.code ?? ''}`);
}

async function create(stats: Stats, server: Server, sessions: Held[], fault: () => string) {
  const outcome = await request(
    stats,
    `${server.url}/v1/sessions`,
    { method: 'POST', token: API_KEY, body: { subject: `soak-${sessions.length % 500}` } },
    fault,
  );
  if (!outcome || outcome.status === 503) return;
  if (outcome.status !== 201 || !outcome.body) {
    stats.other(`create ${outcome.status} ${outcome.code ?? ''}`);
    return;
  }
  const body = outcome.body as { session: { id: string }; token: string; refreshToken: string };
  stats.sessionsAcknowledged++;
  sessions.push({
    id: body.session.id,
    token: body.token,
    refreshToken: body.refreshToken,
    busy: false,
    ended: null,
  });
}

async function validate(stats: Stats, server: Server, held: Held, fault: () => string) {
  const outcome = await request(
    stats,
    `${server.url}/v1/session/validate`,
    { method: 'POST', token: held.token },
    fault,
  );
  if (!outcome || outcome.status === 503 || outcome.status === 200) return;
  judge(stats, held, outcome, 'validate');
}

async function refresh(stats: Stats, server: Server, held: Held, fault: () => string) {
  const outcome = await request(
    stats,
    `${server.url}/v1/session/refresh`,
    { method: 'POST', body: { refreshToken: held.refreshToken } },
    fault,
  );
  // No answer or a 503: the client keeps its token and retries with it later.
  if (!outcome || outcome.status === 503) return;
  if (outcome.status === 200 && outcome.body) {
    held.refreshToken = (outcome.body as { refreshToken: string }).refreshToken;
    stats.refreshesAcknowledged++;
    return;
  }
  judge(stats, held, outcome, 'refresh');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Random instants in [from, to) seconds, at least `gap` apart, sorted. */
function randomTimes(count: number, from: number, to: number, gap: number): number[] {
  for (;;) {
    const times = Array.from({ length: count }, () => from + Math.random() * (to - from)).sort(
      (a, b) => a - b,
    );
    if (times.every((t, i) => i === 0 || t - (times[i - 1] ?? 0) >= gap)) return times;
  }
}

async function soak(kind: 'sqlite' | 'redis'): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), `sessionkeeper-soak-${kind}-`));
  let redis: RedisServerProcess | null = null;
  const redisArgs = ['--appendonly', 'yes', '--appendfsync', 'always'];
  if (kind === 'redis') redis = await startRedisServer({ dir, args: redisArgs });
  const storeUrl = redis ? redis.url : `sqlite:${join(dir, 'soak.db')}`;
  const server = new Server(await sparePort(), storeUrl);
  const stats = new Stats();
  const sessions: Held[] = [];
  let fault = 'none';
  const faultNow = () => fault;
  const faultLog: string[] = [];
  const startedAt = performance.now();
  const elapsed = () => (performance.now() - startedAt) / 1000;

  try {
    await server.start();
    // The faults, one after another, each recovered from before the next.
    type Fault = { at: number; name: string; run: () => Promise<void> };
    const times = randomTimes(kind === 'redis' ? 7 : 5, 5, SECONDS - 10, SECONDS / 12);
    const names = ['server-kill', 'server-kill', 'server-kill', 'server-kill', 'server-kill'];
    if (kind === 'redis') names.push('redis-kill', 'redis-stop');
    names.sort(() => Math.random() - 0.5);
    const faults: Fault[] = names.map((name, i) => ({
      at: times[i] ?? 0,
      name,
      run: async () => {
        if (name === 'server-kill') {
          await server.kill();
          await sleep(200 + Math.random() * 800);
          await server.start();
        } else if (name === 'redis-kill' && redis) {
          const port = redis.port;
          await redis.stop(true);
          await sleep(1000);
          redis = await startRedisServer({ dir, port, args: redisArgs });
          await server.ready();
        } else if (name === 'redis-stop' && redis) {
          redis.signal('SIGSTOP');
          await sleep(STALL_MS);
          redis.signal('SIGCONT');
          await server.ready();
        }
      },
    }));
    let faultsDone = false;
    const faultTask = (async () => {
      try {
        for (const f of faults) {
          while (elapsed() < f.at) await sleep(50);
          const began = elapsed();
          fault = f.name;
          await f.run();
          fault = 'none';
          faultLog.push(
            `${f.name} at ${began.toFixed(1)} s (recovered in ${(elapsed() - began).toFixed(1)} s)`,
          );
        }
      } finally {
        faultsDone = true;
      }
    })();
    // Awaited after the load stops; until then a failure must not crash the script unhandled.
    let faultError: unknown = null;
    faultTask.catch((error: unknown) => {
      faultError = error;
    });

    // Steady load: RATE operations a second, a bounded number in flight.
    const inFlight = new Set<Promise<void>>();
    const launch = (op: Promise<void>) => {
      inFlight.add(op);
      void op.finally(() => inFlight.delete(op));
    };
    let launched = 0;
    /** Operations not sent because MAX_IN_FLIGHT requests were already waiting. */
    let shed = 0;
    // Until the last fault was recovered from, however long restarts took.
    while (elapsed() < SECONDS || !faultsDone) {
      const due = Math.floor(elapsed() * RATE) - launched - shed;
      for (let i = 0; i < due && inFlight.size < MAX_IN_FLIGHT; i++) {
        launched++;
        const idle = sessions.filter((s) => !s.busy && !s.ended);
        if (idle.length < 20 || Math.random() < 0.15) {
          launch(create(stats, server, sessions, faultNow));
          continue;
        }
        const held = idle[Math.floor(Math.random() * idle.length)] as Held;
        held.busy = true;
        const op = Math.random() < 0.6 ? validate : refresh;
        launch(
          op(stats, server, held, faultNow).finally(() => {
            held.busy = false;
          }),
        );
      }
      const left = Math.floor(elapsed() * RATE) - launched - shed;
      if (left > 0 && inFlight.size >= MAX_IN_FLIGHT) shed += left; // do not pile up
      await sleep(5);
    }
    const loadSeconds = elapsed();
    await Promise.all(inFlight);
    await faultTask.catch(() => undefined);
    if (faultError) throw faultError;
    await server.ready();

    // Every acknowledged session must validate, and its latest acknowledged refresh token refresh.
    const unverified = sessions.filter((s) => !s.ended);
    const checkFault = () => 'final check';
    for (let i = 0; i < unverified.length; i += 20) {
      await Promise.all(
        unverified.slice(i, i + 20).map(async (held) => {
          for (let attempt = 0; attempt < 5 && !held.ended; attempt++) {
            const v = await request(
              stats,
              `${server.url}/v1/session/validate`,
              { method: 'POST', token: held.token },
              checkFault,
            );
            if (v?.status === 200) break;
            if (v && v.status !== 503) judge(stats, held, v, 'validate');
            await sleep(500);
          }
          for (let attempt = 0; attempt < 5 && !held.ended; attempt++) {
            const r = await request(
              stats,
              `${server.url}/v1/session/refresh`,
              { method: 'POST', body: { refreshToken: held.refreshToken } },
              checkFault,
            );
            if (r?.status === 200) break;
            if (r && r.status !== 503) judge(stats, held, r, 'refresh');
            await sleep(500);
          }
        }),
      );
    }

    const latencies = stats.unavailable.map((u) => u.ms).sort((a, b) => a - b);
    const over = latencies.filter((ms) => ms > BOUND_503_MS).length;
    const byFault = new Map<string, number[]>();
    for (const u of stats.unavailable)
      byFault.set(u.fault, [...(byFault.get(u.fault) ?? []), u.ms]);
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(`\n=== ${kind} (${storeUrl}) ===`);
    console.log(
      `load: ${loadSeconds.toFixed(0)} s, ${launched} operations sent (${(launched / loadSeconds).toFixed(0)}/s), ${shed} shed while ${MAX_IN_FLIGHT} were waiting, ${stats.requests} requests in all (with the final check)`,
    );
    console.log(`faults: ${faultLog.join('; ')}`);
    console.log(
      `sessions: ${stats.sessionsAcknowledged} acknowledged, ${stats.lostSessions.size} lost`,
    );
    console.log(
      `refresh tokens: ${stats.refreshesAcknowledged} rotations acknowledged, ${stats.lostRefreshTokens.size} latest tokens lost`,
    );
    console.log(`sessions revoked by faults: ${stats.revokedByFaults.size}`);
    console.log(
      `503 answers: ${latencies.length}, max ${fmt(latencies.at(-1) ?? 0)}, p99 ${fmt(percentile(latencies, 99))}, p50 ${fmt(percentile(latencies, 50))}; over the ${fmt(BOUND_503_MS)} bound: ${over}`,
    );
    for (const [name, list] of byFault) {
      list.sort((a, b) => a - b);
      console.log(
        `  during ${name}: ${list.length}, max ${fmt(list.at(-1) ?? 0)}, p99 ${fmt(percentile(list, 99))}`,
      );
      const details = new Map<string, number>();
      for (const u of stats.unavailable.filter((u) => u.fault === name)) {
        details.set(u.detail, (details.get(u.detail) ?? 0) + 1);
      }
      for (const [detail, count] of [...details].sort((a, b) => b[1] - a[1]).slice(0, 3)) {
        console.log(`    ${count} × ${detail}`);
      }
    }
    console.log(
      `no answer: ${stats.connectionErrors} connection errors (server down), ${stats.timeouts} timeouts after ${fmt(REQUEST_TIMEOUT_MS)}`,
    );
    if (stats.otherAnswers.size > 0) {
      console.log(`other answers: ${JSON.stringify(Object.fromEntries(stats.otherAnswers))}`);
    }
    return (
      stats.lostSessions.size === 0 &&
      stats.lostRefreshTokens.size === 0 &&
      stats.revokedByFaults.size === 0 &&
      over === 0
    );
  } finally {
    await server.kill();
    const r = redis as RedisServerProcess | null;
    if (r) {
      r.signal('SIGCONT');
      await r.stop(true);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

let allMet = true;
for (const kind of STORES) {
  const met = await soak(kind as 'sqlite' | 'redis');
  allMet &&= met;
}
console.log(allMet ? '\nall targets met' : '\nTARGETS MISSED (see above)');
process.exit(allMet ? 0 : 1);
