import { startFakeUpstream } from '../examples/shared/fake-upstream.js';
import {
  createSessionPool,
  httpSessionKind,
  type SessionKind,
} from '../packages/pool/src/index.js';
import type { BenchRow } from './report.js';

const OVERHEAD_CALLS = 20_000;
const HTTP_CALLS = 2_000;
const RECOVERIES = 100;

/**
 * Issue 8's figures. Overhead: the median time of `pool.use(key, op)` minus that of `op(session)`
 * called directly, with a session kind that does no I/O (so only the pool's own work is left), and
 * again with the HTTP kind against the fake site (one GET per operation). Recovery: the median time
 * from the detection of an expired session to the operation running again, minus the new login's
 * own duration (both as the pool's `recovered` event reports them).
 */
export async function benchPool(): Promise<BenchRow[]> {
  const overhead = await overheadInMemory();
  const http = await overheadOverHttp();
  const recovery = await recoveryLatency();
  return [
    { name: 'op called directly (no I/O), median', value: overhead.direct, unit: 'µs' },
    { name: 'pool.use(op) (no I/O), median', value: overhead.pooled, unit: 'µs' },
    {
      name: 'pool overhead per use, median',
      value: overhead.pooled - overhead.direct,
      unit: 'µs',
      target: { text: '<= 50 µs', met: overhead.pooled - overhead.direct <= 50 },
    },
    {
      name: 'GET through the session directly (HTTP kind), median',
      value: http.direct,
      unit: 'µs',
    },
    { name: 'same GET through pool.use, median', value: http.pooled, unit: 'µs' },
    {
      name: 'pool overhead per use over HTTP, median',
      value: http.pooled - http.direct,
      unit: 'µs',
    },
    { name: 'recovery: detection to rerun, median', value: recovery.total, unit: 'ms' },
    { name: 'recovery: of which the new login, median', value: recovery.login, unit: 'ms' },
    {
      name: 'recovery latency beyond the login, median',
      value: recovery.beyond,
      unit: 'ms',
      target: { text: '<= 10 ms', met: recovery.beyond <= 10 },
    },
    { name: 'recovery latency beyond the login, p95', value: recovery.beyondP95, unit: 'ms' },
  ];
}

interface Session {
  readonly value: number;
}

const memoryKind: SessionKind<Session> = {
  name: 'bench',
  concurrency: 16,
  create: async () => ({ value: 1 }),
  probe: async () => undefined,
  destroy: async () => {},
};

async function overheadInMemory(): Promise<{ direct: number; pooled: number }> {
  const pool = createSessionPool({ kind: memoryKind, background: false });
  const op = async (session: Session) => session.value + 1;
  const session = await pool.use('bench', async (s) => s);
  const result = await interleaved(
    OVERHEAD_CALLS,
    () => op(session),
    () => pool.use('bench', op),
  );
  await pool.close();
  return result;
}

async function overheadOverHttp(): Promise<{ direct: number; pooled: number }> {
  const site = await startFakeUpstream();
  const pool = createSessionPool({ kind: siteKind(site.url), background: false });
  const op = async (session: { fetch(path: string): Promise<{ text(): Promise<string> }> }) =>
    (await session.fetch('/account')).text();
  const session = await pool.use('bench', async (s) => s);
  const result = await interleaved(
    HTTP_CALLS,
    () => op(session),
    () => pool.use('bench', op),
  );
  await pool.close();
  await site.close();
  return result;
}

async function recoveryLatency(): Promise<{
  total: number;
  login: number;
  beyond: number;
  beyondP95: number;
}> {
  const site = await startFakeUpstream();
  const pool = createSessionPool({ kind: siteKind(site.url), background: false });
  const seen: { recoveryMs: number; loginMs: number }[] = [];
  pool.on('recovered', (event) => seen.push(event));
  await pool.use('bench', (s) => s.fetch('/account'));
  for (let i = 0; i < RECOVERIES; i++) {
    site.expireSessions();
    await pool.use('bench', (s) => s.fetch('/account'));
  }
  await pool.close();
  await site.close();
  if (seen.length !== RECOVERIES)
    throw new Error(`expected ${RECOVERIES} recoveries, saw ${seen.length}`);
  const beyond = seen.map((e) => e.recoveryMs - e.loginMs);
  return {
    total: median(seen.map((e) => e.recoveryMs)),
    login: median(seen.map((e) => e.loginMs)),
    beyond: median(beyond),
    beyondP95: percentile(beyond, 0.95),
  };
}

function siteKind(baseUrl: string) {
  return httpSessionKind({
    baseUrl,
    probePath: '/account',
    async login(client) {
      const response = await client.fetch('/login', {
        method: 'POST',
        form: { username: client.key, password: 'secret' },
      });
      if (!(await response.text()).includes('Signed in as')) throw new Error('login failed');
    },
  });
}

/** Times each call, alternating the two forms in blocks so drift (GC, JIT, a busy core) hits both. */
async function interleaved(
  calls: number,
  direct: () => Promise<unknown>,
  pooled: () => Promise<unknown>,
): Promise<{ direct: number; pooled: number }> {
  const times = { direct: [] as number[], pooled: [] as number[] };
  const block = 100;
  for (let i = 0; i < calls / block; i++) {
    for (const [form, call] of [
      ['direct', direct],
      ['pooled', pooled],
    ] as const) {
      for (let j = 0; j < block; j++) {
        const t0 = performance.now();
        await call();
        times[form].push((performance.now() - t0) * 1000);
      }
    }
  }
  // The first tenth warms the JIT up and is not counted.
  const skip = (list: number[]) => list.slice(Math.floor(list.length / 10));
  return { direct: median(skip(times.direct)), pooled: median(skip(times.pooled)) };
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}
