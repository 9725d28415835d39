import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { deletePrefix } from './redis.bench.js';
import type { BenchRow } from './report.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LIVE = 1000;
const CONNECTIONS = 50;
const SECONDS = 5;
const API_KEY = 'bench-api-key-0123456789';

interface Measured {
  rps: number;
  p99: number;
}

/**
 * Issue 5's figures: requests per second and p99 of `POST /v1/session/validate` (server in a child
 * process, 1,000 live sessions, 50 connections) on SQLite and Redis, beside a bare node:http
 * server (the ceiling) and Express + express-session + connect-redis reading a rolling session.
 */
export async function benchServer(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sk-server-bench-'));
  const prefix = `skbench:${randomBytes(4).toString('hex')}:`;
  try {
    const bare = await measureChild(bareServerScript, async (url) => ({
      url: `${url}/`,
      method: 'GET',
    }));
    const fastify = await measureChild(fastifyScript, async (url) => ({
      url: `${url}/v1/session/validate`,
      method: 'POST',
      setup: () => ({ authorization: `Bearer sks_${randomBytes(16).toString('hex')}` }),
    }));
    const sqlite = await measureSessionkeeper(['--store', `sqlite:${join(dir, 'bench.db')}`]);
    const redis = await measureSessionkeeper([
      '--store',
      REDIS_URL,
      '--redis-key-prefix',
      `${prefix}sk:`,
    ]);
    const express = await measureChild(expressScript(`${prefix}ex:`), async (url) => {
      const cookies: string[] = [];
      for (let i = 0; i < LIVE; i++) {
        const response = await fetch(`${url}/login?user=user-${i}`, { method: 'POST' });
        const cookie = response.headers.get('set-cookie')?.split(';')[0];
        if (!cookie) throw new Error('express-session set no cookie');
        cookies.push(cookie);
      }
      let next = 0;
      return {
        url: `${url}/me`,
        method: 'GET',
        setup: () => ({ cookie: cookies[next++ % LIVE] ?? '' }),
      };
    });
    const rows: BenchRow[] = [];
    const row = (name: string, m: Measured, isSessionkeeper: boolean) => {
      rows.push({ name: `${name}: req/s`, value: m.rps, unit: 'req/s' });
      rows.push({
        name: `${name}: p99 latency`,
        value: m.p99,
        unit: 'ms',
        ...(isSessionkeeper ? { target: { text: '<= 10 ms', met: m.p99 <= 10 } } : {}),
      });
    };
    row('bare node:http 200 (ceiling)', bare, false);
    row('Fastify 5, a route answering a validate-sized JSON (framework floor)', fastify, false);
    rows.push({
      name: 'Fastify floor vs bare node:http',
      value: fastify.rps / bare.rps,
      unit: '×',
    });
    row('sessionkeeper validate, SQLite', sqlite, true);
    row('sessionkeeper validate, Redis', redis, true);
    row('Express + express-session + connect-redis (rolling)', express, false);
    for (const [name, m] of [
      ['SQLite', sqlite],
      ['Redis', redis],
    ] as const) {
      rows.push({
        name: `${name} vs express-session`,
        value: m.rps / express.rps,
        unit: '×',
        target: { text: '>= 2', met: m.rps / express.rps >= 2 },
      });
      rows.push({
        name: `${name} vs bare node:http`,
        value: m.rps / bare.rps,
        unit: '×',
        target: { text: '>= 0.5', met: m.rps / bare.rps >= 0.5 },
      });
    }
    return rows;
  } finally {
    const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    // The Redis is shared: remove exactly this run's keys; if it is down, nothing was written.
    await admin
      .connect()
      .then(() => deletePrefix(admin, prefix))
      .catch(() => {})
      .finally(() => admin.disconnect());
    await rm(dir, { recursive: true, force: true });
  }
}

async function measureSessionkeeper(storeArgs: string[]): Promise<Measured> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '-C',
      'sessionkeeper-source',
      '--import',
      'tsx',
      'packages/server/src/cli/main.ts',
      'serve',
      '--port',
      String(port),
      '--log-level',
      'warn',
      ...storeArgs,
    ],
    { cwd: REPO_ROOT, env: { ...process.env, SESSIONKEEPER_API_KEY: API_KEY }, stdio: 'inherit' },
  );
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitUntilUp(`${url}/healthz`, child);
    const tokens: string[] = [];
    for (let i = 0; i < LIVE; i++) {
      const response = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ subject: `user-${i}`, data: { plan: 'pro', locale: 'en-GB' } }),
      });
      if (response.status !== 201) throw new Error(`create answered ${response.status}`);
      tokens.push(((await response.json()) as { token: string }).token);
    }
    let next = 0;
    return await cannon(`${url}/v1/session/validate`, 'POST', () => ({
      authorization: `Bearer ${tokens[next++ % LIVE]}`,
    }));
  } finally {
    await stop(child);
  }
}

async function measureChild(
  script: (port: number) => string,
  prepare: (
    url: string,
  ) => Promise<{ url: string; method: 'GET' | 'POST'; setup?: () => Record<string, string> }>,
): Promise<Measured> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script(port)], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitUntilUp(`${base}/`, child);
    const target = await prepare(base);
    return await cannon(target.url, target.method, target.setup);
  } finally {
    await stop(child);
  }
}

async function cannon(
  url: string,
  method: 'GET' | 'POST',
  headers?: () => Record<string, string>,
): Promise<Measured> {
  const requests = [
    {
      method,
      setupRequest: (request: autocannon.Request) =>
        headers ? { ...request, headers: { ...request.headers, ...headers() } } : request,
    },
  ];
  // A short warm-up (JIT, connection pools), then the measured run.
  await autocannon({ url, connections: CONNECTIONS, duration: 1, requests });
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, requests });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const bareServerScript = (port: number) => `
import { createServer } from 'node:http';
createServer((request, response) => {
  request.resume();
  response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
}).listen(${port}, '127.0.0.1');
`;

// The same framework with nothing but a fixed answer of the validate route's shape and size: what
// any Fastify service gets on this machine before it does any work of its own.
const fastifyScript = (port: number) => `
import Fastify from 'fastify';
const app = Fastify();
const now = new Date().toISOString();
app.get('/', async () => 'ok');
app.post('/v1/session/validate', async (request, reply) => {
  reply.header('cache-control', 'no-store');
  return {
    valid: true,
    session: {
      id: 'sess_0123456789abcdefghijkl', subject: 'user-1', data: { plan: 'pro', locale: 'en-GB' },
      status: 'active', createdAt: now, lastActiveAt: now, expiresAt: now, absoluteExpiresAt: now,
      idleTimeout: 1800, endReason: null, endedAt: null,
    },
    age: 12.5,
    idleRemaining: 1800,
    absoluteRemaining: 86400,
  };
});
await app.listen({ port: ${port}, host: '127.0.0.1' });
`;

const expressScript = (prefix: string) => (port: number) =>
  `
import express from 'express';
import session from 'express-session';
import RedisStore from 'connect-redis';
import { Redis } from 'ioredis';
const client = new Redis(${JSON.stringify(REDIS_URL)});
const app = express();
app.use(session({
  store: new RedisStore({ client, prefix: ${JSON.stringify(prefix)} }),
  secret: 'bench-secret-0123456789',
  resave: false,
  saveUninitialized: false,
  rolling: true,
  cookie: { maxAge: 30 * 60 * 1000 },
}));
app.get('/', (_req, res) => res.send('ok'));
app.post('/login', (req, res) => { req.session.user = String(req.query.user); res.send('ok'); });
app.get('/me', (req, res) => {
  if (!req.session.user) return res.status(401).end();
  res.json({ user: req.session.user });
});
app.listen(${port}, '127.0.0.1');
`;

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitUntilUp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited (${child.exitCode})`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not come up`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
