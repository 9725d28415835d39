import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { type CliRun, listeningUrl, runCli } from './cli-process.js';
import { createSession, type Harness, holder, startHarness } from './harness.js';
import {
  freePort,
  type ReceivedWebhook,
  startReceiver,
  verifySignature,
  type WebhookReceiver,
} from './webhook-receiver.js';

const SECRET = 'webhook-secret-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-webhooks-'));
const cleanup: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function receiver(
  options: Parameters<typeof startReceiver>[0] = {},
): Promise<WebhookReceiver> {
  const started = await startReceiver(options);
  cleanup.push(() => started.close());
  return started;
}

async function harness(options: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const started = await startHarness(options);
  cleanup.push(() => started.close());
  return started;
}

const ofType = (type: string) => (hook: ReceivedWebhook) =>
  (JSON.parse(hook.body) as { type: string }).type === type;

describe('webhooks', () => {
  it('POSTs each event signed, with its id and timestamp, and never a token', async () => {
    const hooks = await receiver();
    const h = await harness({ app: { webhooks: { urls: [hooks.url], secret: SECRET } } });
    const created = await createSession(h.app, { subject: 'user-7', data: { plan: 'pro' } });
    await h.app.inject({ method: 'DELETE', url: '/v1/session', headers: holder(created.token) });
    await h.engine.deliverEvents();

    const types = hooks.received.map((hook) => (JSON.parse(hook.body) as { type: string }).type);
    expect(types).toEqual(['created', 'revoked']);
    for (const hook of hooks.received) {
      expect(hook.headers['content-type']).toBe('application/json');
      expect(verifySignature(SECRET, hook.headers, hook.body)).toBe(true);
      expect(verifySignature('another-secret-0123456789', hook.headers, hook.body)).toBe(false);
      expect(verifySignature(SECRET, hook.headers, `${hook.body} `)).toBe(false);
      expect(hook.headers['webhook-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
      expect(Math.abs(Number(hook.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(
        60,
      );
      for (const secret of [created.token, created.refreshToken, created.accessToken])
        expect(hook.body).not.toContain(secret);
      expect(hook.body).not.toMatch(/sks_|skr_|secretHash|refreshHash/);
    }
    const [first, second] = hooks.received.map(
      (hook) => JSON.parse(hook.body) as Record<string, unknown>,
    );
    expect(first).toEqual({
      id: hooks.received[0]?.headers['webhook-id'],
      type: 'created',
      at: expect.any(String),
      reason: null,
      session: expect.objectContaining({
        id: created.id,
        subject: 'user-7',
        data: { plan: 'pro' },
      }),
    });
    expect(second).toMatchObject({
      type: 'revoked',
      reason: 'logout',
      session: { id: created.id },
    });
    expect(first?.id).not.toBe(second?.id);
    expect(h.logs.join('\n')).not.toContain(SECRET);
  });

  it('redelivers from the outbox: a receiver answering 500 for 3 s still gets the event, once per URL', async () => {
    const startedAt = Date.now();
    const flaky = await receiver({ status: () => (Date.now() - startedAt < 3000 ? 500 : 200) });
    const steady = await receiver();
    const h = await harness({
      engine: {
        clock: systemClock,
        background: true,
        eventLeaseSeconds: 1,
        eventPollIntervalSeconds: 0.2,
      },
      app: {
        webhooks: { urls: [flaky.url, steady.url], secret: SECRET, retryDelaysMs: [100, 200] },
      },
    });
    const created = await createSession(h.app);
    const hook = await flaky.waitFor(ofType('created'));
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(3000);
    expect(JSON.parse(hook.body)).toMatchObject({ type: 'created', session: { id: created.id } });
    const failures = flaky.received.filter((r) => r.status === 500);
    // More failures than the quick retries of one delivery: the outbox delivered it again.
    expect(failures.length).toBeGreaterThan(3);
    // Every attempt carried the same event id; the receiver that took it first was not sent it again.
    expect(new Set(flaky.received.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([hook.headers['webhook-id']]),
    );
    expect(steady.received.filter(ofType('created'))).toHaveLength(1);
    expect(h.logs.join('\n')).toContain('webhook delivery failed');
  });

  it('drops an event after maxEventAttempts with an error log', async () => {
    const down = await receiver({ status: () => 503 });
    const h = await harness({
      engine: {
        clock: systemClock,
        background: false,
        eventLeaseSeconds: 0.05,
        maxEventAttempts: 2,
      },
      app: { webhooks: { urls: [down.url], secret: SECRET, retryDelaysMs: [50] } },
    });
    await createSession(h.app);
    await h.engine.deliverEvents();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await h.engine.deliverEvents();
    expect(down.received).toHaveLength(2);
    const dropped = h.logs
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((entry) => entry.msg.includes('dropped'));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]?.level).toBe(50);
  });

  it('delivers an event written before a SIGKILL after the restart', async () => {
    const port = await freePort();
    const store = `sqlite:${join(dir, 'kill.db')}`;
    const args = [
      'serve',
      '--port',
      '0',
      '--store',
      store,
      '--webhook',
      `http://127.0.0.1:${port}/hooks`,
      '--event-lease',
      '1s',
      '--log-level',
      'info',
    ];
    const env = { SESSIONKEEPER_API_KEY: 'k', SESSIONKEEPER_WEBHOOK_SECRET: SECRET };
    const runs: CliRun[] = [];
    cleanup.push(async () => {
      for (const run of runs) {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
        await run.exited;
      }
    });
    const first = runCli(args, env);
    runs.push(first);
    const url = await listeningUrl(first);
    const response = await fetch(`${url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'user-9' }),
    });
    expect(response.status).toBe(201);
    const { session } = (await response.json()) as { session: { id: string } };
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(first.stdout.join('\n')).not.toContain(SECRET);

    const hooks = await receiver({ port });
    const second = runCli(args, env);
    runs.push(second);
    await listeningUrl(second);
    const hook = await hooks.waitFor(ofType('created'));
    expect(verifySignature(SECRET, hook.headers, hook.body)).toBe(true);
    expect(JSON.parse(hook.body)).toMatchObject({ type: 'created', session: { id: session.id } });
  });
});
