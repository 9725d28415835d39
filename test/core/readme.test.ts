import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
// Absolute, because the script runs from an empty directory where `tsx` does not resolve.
const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
const dir = await mkdtemp(join(tmpdir(), 'sk-readme-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('README quick start', () => {
  it('runs as written and prints what the README says', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const block = readme.split('## Quick start (library)')[1]?.match(/```js\n([\s\S]*?)```/)?.[1];
    expect(block, 'the README has a js quick start block').toBeTruthy();
    // The same program, importing the source instead of the built package, run from an empty directory.
    const script = (block as string).replace(
      "from 'sessionkeeper'",
      `from '${join(root, 'packages/sessionkeeper/src/core/index.ts')}'`,
    );
    await writeFile(join(dir, 'quickstart.mjs'), script);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', tsxLoader, 'quickstart.mjs'],
      {
        cwd: dir,
        env: { ...process.env, SESSIONKEEPER_LOG_LEVEL: 'silent' },
      },
    );
    expect(stdout).toMatch(/^created \S+ expires at \d{4}-/m);
    expect(stdout).toMatch(/^valid for 1800 more seconds of inactivity$/m);
    expect(stdout).toMatch(/^session-revoked - Session was revoked at \S+ \(reason: logout\)$/m);
    expect(stdout).toMatch(/ended \(revoked: logout\); delete what it owned here$/m);
    const db = await readFile(join(dir, 'data/sessionkeeper.db'));
    expect(db.length).toBeGreaterThan(0);
  });
});
