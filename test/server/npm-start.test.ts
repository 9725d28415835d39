import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listeningUrl, REPO_ROOT, runNpmStart } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-npm-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

// The README's first command: `npm start` runs the service built on install, and stopping npm
// (a supervisor or a terminal sending SIGTERM to the process it started) stops the server.
describe('npm start', () => {
  it('runs the built service, says where it listens, and stops with the npm process', async () => {
    const built = join(REPO_ROOT, 'packages/server/dist/cli/main.js');
    expect(existsSync(built), `${built} is missing: npm install builds it (npm run build)`).toBe(
      true,
    );
    const run = runNpmStart(['--port', '0', '--store', `sqlite:${join(dir, 's.db')}`], {
      SESSIONKEEPER_API_KEY: 'skk_npm-start-test-key-0123456789abcdefghijklmnop',
      SESSIONKEEPER_LOG_LEVEL: 'info',
    });
    const url = await listeningUrl(run);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await answers(url)).toBe(true);

    run.child.kill('SIGTERM');
    await run.exited;
    const deadline = Date.now() + 5000;
    while ((await answers(url)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await answers(url)).toBe(false);
  });
});
