import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  createSessionPool,
  type HttpSession,
  PoolClosedError,
} from '../../packages/pool/src/index.js';
import { gate, signedInAs, siteKind, startSite } from './http-site.js';

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

describe('close()', () => {
  it('rejects waiting callers with PoolClosedError, lets running operations finish, and stops the timers', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 1 }),
      checkIntervalSeconds: 0.05,
      refreshIntervalSeconds: 0.1,
    });
    await pool.use('alice', accountOf);
    const hold = gate();
    const started = gate();
    const running = pool.use('alice', async (session, { signal }) => {
      started.open();
      await hold.promise;
      expect(signal.aborted).toBe(false); // not pulled from under a running operation
      return accountOf(session);
    });
    await started.promise;
    const waiting = pool.use('alice', accountOf).catch((e: unknown) => e);

    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    expect(await waiting).toBeInstanceOf(PoolClosedError);
    expect(await waiting).toMatchObject({ code: 'POOL_CLOSED', status: 503 });
    await sleep(50);
    expect(closed).toBe(false); // waits for the running operation
    hold.open();
    expect(await running).toBe('alice');
    await closing;

    await expect(pool.use('alice', accountOf)).rejects.toBeInstanceOf(PoolClosedError);
    const requests = site.stats().requests;
    await sleep(400); // several check and refresh intervals
    expect(site.stats().requests).toBe(requests);
    await pool.close(); // idempotent
  });

  it('a process that closes its pool exits by itself, with nothing left behind', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/close-and-exit.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['-C', 'sessionkeeper-source', '--import', 'tsx', fixture],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    let closedAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += String(chunk);
      if (stdout.includes('closed') && closedAt === 0) closedAt = performance.now();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += String(chunk);
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    const lingered = performance.now() - closedAt;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('{"waiting":"POOL_CLOSED"}');
    expect(closedAt).toBeGreaterThan(0);
    expect(lingered).toBeLessThan(2000);
  });
});
