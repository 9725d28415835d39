import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Problem } from '../../packages/sessionkeeper/src/core/problem.js';
import { REPO_ROOT } from '../server/cli-process.js';
import { CookieJar, type HttpResult, type RequestInit, send } from './http-client.js';

// The three topologies of docs/putting-it-together.md, each started as a user starts it
// (`npm run example:<name>`) and driven over HTTP.

const API_KEY = 'examples-test-api-key-0123456789';

interface Started {
  child: ChildProcess;
  dataDir: string;
  output: string[];
  /** The URL printed on the line starting with `label`. */
  url(label: string): string;
}

let root = '';
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = once(child, 'exit');
    process.kill(-(child.pid as number), 'SIGTERM'); // npm, tsx, the example and its service
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null && child.signalCode === null)
      process.kill(-(child.pid as number), 'SIGKILL');
  }
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** `npm run example:<name>` on free ports with its data in a temp dir; resolves once `labels` printed. */
async function startExample(name: string, labels: string[]): Promise<Started> {
  root ||= await mkdtemp(join(tmpdir(), 'sk-examples-'));
  const dataDir = await mkdtemp(join(root, `${name}-`));
  const child = spawn('npm', ['run', '--silent', `example:${name}`], {
    cwd: REPO_ROOT,
    detached: true, // its own process group, so the test can stop everything it started
    env: {
      ...process.env,
      PORT: '0',
      SERVICE_PORT: '0',
      DATA_DIR: dataDir,
      SESSIONKEEPER_API_KEY: API_KEY,
      SESSIONKEEPER_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n')));
  const find = (label: string) =>
    output.find((line) => line.startsWith(label))?.match(/https?:\/\/[^\s]+/)?.[0];
  const deadline = Date.now() + 45_000;
  while (labels.some((label) => find(label) === undefined)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`example:${name} did not start:\n${output.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    dataDir,
    output,
    url: (label) => {
      const url = find(label);
      if (url === undefined) throw new Error(`no "${label}" line`);
      return url;
    },
  };
}

function json(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

const backend = { authorization: `Bearer ${API_KEY}` };

async function request(url: string, init: RequestInit = {}, jar?: CookieJar): Promise<HttpResult> {
  const result = await send(url, { ...init, headers: { ...jar?.headers(), ...init.headers } });
  jar?.update(result);
  return result;
}

describe('examples of docs/putting-it-together.md', { timeout: 90_000 }, () => {
  it('1. an app with the middleware only serves the browser client itself', async () => {
    const example = await startExample('middleware-only', ['middleware-only example on']);
    const app = example.url('middleware-only example on');
    const jar = new CookieJar();

    const page = await request(`${app}/`);
    expect(page.text).toContain("createSessionClient } from '/client.js'");
    const client = await request(`${app}/client.js`);
    expect(client.status).toBe(200);
    expect(client.text).toContain('createSessionClient');

    // What the page does: no session yet, sign in, validate() with the cookie, use the API.
    expect((await request(`${app}/v1/session/validate`, { method: 'POST' }, jar)).status).toBe(401);
    expect((await request(`${app}/login`, json({ name: 'ann' }), jar)).status).toBe(200);
    const validated = await request(`${app}/v1/session/validate`, { method: 'POST' }, jar);
    expect(validated.status, validated.text).toBe(200);
    expect(validated.json()).toMatchObject({ valid: true, session: { subject: 'ann' } });
    const note = await request(
      `${app}/api/note`,
      { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'remember the milk' },
      jar,
    );
    expect(note.status, note.text).toBe(204);
    expect((await request(`${app}/api/note`, {}, jar)).text).toBe('remember the milk');
    expect((await request(`${app}/v1/session/renew`, { method: 'POST' }, jar)).status).toBe(200);

    // Sign out through the client's call: the cookie goes, the cleanup hook deletes the note.
    const sessionId = validated.json<{ session: { id: string } }>().session.id;
    expect((await request(`${app}/v1/session`, { method: 'DELETE' }, jar)).status).toBe(204);
    expect(jar.get('sk_session')).toBeUndefined();
    const noteFile = join(example.dataDir, 'notes', `${sessionId}.txt`);
    for (const until = Date.now() + 10_000; existsSync(noteFile) && Date.now() < until; )
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(existsSync(noteFile)).toBe(false);
    const refused = await request(`${app}/api/me`, {
      headers: { authorization: `Bearer sks_${sessionId}.wrong` },
    });
    expect(refused.status).toBe(401);
    const problemPage = await request(new URL(refused.json<Problem>().type, app).href);
    expect(problemPage.status).toBe(200);
    expect(problemPage.text).toContain(refused.json<Problem>().code);
  });

  it('2. an app and sessionkeeper serve on one SQLite file share every session', async () => {
    const example = await startExample('app-and-service', ['app on', 'service on']);
    const app = example.url('app on');
    const service = example.url('service on');
    const jar = new CookieJar();

    const login = await request(`${app}/login`, json({ name: 'ann' }), jar);
    expect(login.status, login.text).toBe(200);
    const { sessionId, token } = login.json<{ sessionId: string; token: string }>();
    expect(
      (
        await request(
          `${app}/api/upload`,
          { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'data' },
          jar,
        )
      ).status,
    ).toBe(204);

    const uploads = join(example.dataDir, 'uploads', sessionId);
    expect(existsSync(uploads)).toBe(true);

    // Another backend checks the same session through the service.
    const validated = await request(`${service}/v1/session/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(validated.status, validated.text).toBe(200);
    expect(validated.json()).toMatchObject({ session: { id: sessionId, subject: 'ann' } });
    // The service's backend API lists it (here through the app's /api/sessions).
    const listed = await request(`${app}/api/sessions`, {}, jar);
    expect(listed.json<{ sessions: { id: string }[] }>().sessions.map((s) => s.id)).toContain(
      sessionId,
    );

    // Revoked through the service's API: the app refuses the session at once.
    const revoked = await request(`${service}/v1/sessions/${sessionId}`, {
      method: 'DELETE',
      headers: backend,
    });
    expect(revoked.status, revoked.text).toBe(204);
    const refused = await request(`${app}/api/me`, {}, jar);
    expect(refused.status).toBe(401);
    expect(refused.json<Problem>().code).toBe('SESSION_REVOKED');
    // The service ended it, and the app's cleanup hook still runs: its uploads are deleted.
    const deadline = Date.now() + 15_000;
    while (existsSync(uploads) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(
      existsSync(uploads),
      'the app deletes the uploads of a session the service revoked',
    ).toBe(false);

    // Signed out in the app: the service refuses the token too.
    const again = await request(`${app}/login`, json({ name: 'ann' }), jar);
    const second = again.json<{ token: string }>().token;
    expect((await request(`${app}/logout`, { method: 'POST' }, jar)).json()).toEqual({
      revoked: true,
    });
    const afterLogout = await request(`${service}/v1/session/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${second}` },
    });
    expect(afterLogout.json<Problem>().code).toBe('SESSION_REVOKED');
  });

  it('3. a resource server verifies the service’s access tokens with its JWKS, no store', async () => {
    const example = await startExample('resource-server', ['resource server on', 'service on']);
    const api = example.url('resource server on');
    const service = example.url('service on');

    const created = await request(`${service}/v1/sessions`, json({ subject: 'ann' }, backend));
    expect(created.status, created.text).toBe(201);
    const { accessToken, refreshToken, session } = created.json<{
      accessToken: string;
      refreshToken: string;
      session: { id: string };
    }>();
    const orders = await request(`${api}/api/orders`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(orders.status, orders.text).toBe(200);
    expect(orders.json()).toMatchObject({ user: 'ann', session: session.id });

    const none = await request(`${api}/api/orders`);
    expect(none.status).toBe(401);
    const problem = none.json<Problem>();
    expect(problem.code).toBe('UNAUTHORIZED');
    // The type links to the service's page.
    expect(problem.type).toBe(`${service}/problems/unauthorized`);
    expect((await request(problem.type)).status).toBe(200);
    const forged = await request(`${api}/api/orders`, {
      headers: { authorization: `Bearer ${accessToken.slice(0, -4)}AAAA` },
    });
    expect(forged.json<Problem>().code).toBe('INVALID_TOKEN');

    // A refreshed token (from the service) is accepted the same way.
    const refreshed = await request(`${service}/v1/session/refresh`, json({ refreshToken }));
    expect(refreshed.status, refreshed.text).toBe(200);
    const next = refreshed.json<{ accessToken: string }>().accessToken;
    const withNext = await request(`${api}/api/orders`, {
      headers: { authorization: `Bearer ${next}` },
    });
    expect(withNext.status).toBe(200);
  });
});
