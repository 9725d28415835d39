import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { SHUTDOWN_GRACE_MS } from '../../packages/server/src/cli/serve.js';
import { REPO_ROOT } from './cli-process.js';

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/**
 * `sessionkeeper serve … | head -c 400`: reads the first 400 bytes of stdout (enough for the
 * URL of the start-up line), then closes its end of the pipe, as head does when it exits.
 */
async function serveIntoHead(): Promise<{ child: ReturnType<typeof spawn>; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'packages/server/src/cli/main.ts',
      'serve',
      '--store',
      'memory:',
      '--port',
      '0',
      '--api-key',
      'shutdown-test-key',
      '--log-level',
      'debug',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  const stdout = child.stdout;
  if (!stdout) throw new Error('no stdout pipe');
  let head = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start-up line: ${head}`)), 30_000);
    stdout.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const found = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(head.slice(0, 4000));
      if (found?.[1] && head.length >= 400) {
        clearTimeout(timer);
        stdout.destroy(); // head -c 400 exits: the pipe's read end is closed
        resolve(found[1]);
      }
    });
  });
  return { child, url };
}

/** Sends SIGTERM and resolves with how the process ended and how long that took. */
async function terminate(child: ReturnType<typeof spawn>) {
  const exited = once(child, 'exit');
  const start = Date.now();
  child.kill('SIGTERM');
  const [code, signal] = (await Promise.race([
    exited,
    new Promise((resolve) => setTimeout(() => resolve(['still running', null]), 20_000)),
  ])) as [number | string | null, string | null];
  return { code, signal, tookMs: Date.now() - start };
}

describe('shutdown with stdout a closed pipe', () => {
  it('SIGTERM exits 0 within the grace period when the first failed log write is the shutdown line', async () => {
    // The reported hang: nothing is logged between head's exit and the signal, so the shutdown's
    // own lines meet the broken pipe, and pino's exit-time flush retried them for ever.
    const { child } = await serveIntoHead();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { code, signal, tookMs } = await terminate(child);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // Well within the grace period: nothing waited on the log destination.
    expect(tookMs).toBeLessThan(SHUTDOWN_GRACE_MS);
  }, 60_000);

  it('SIGTERM exits 0 after requests whose log lines all failed with EPIPE', async () => {
    const { child, url } = await serveIntoHead();
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${url}/v1/stats`, {
        headers: { authorization: 'Bearer shutdown-test-key' },
      });
      expect(response.status).toBe(200);
    }
    const { code, signal, tookMs } = await terminate(child);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(SHUTDOWN_GRACE_MS);
  }, 60_000);
});
