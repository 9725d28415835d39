import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts `sessionkeeper serve` with `args` (from this checkout's source, as `npm start` does) and
 * resolves with its URL once it listens (its start-up line is logged at info). Its warnings and
 * errors go to this process's stderr.
 */
export async function startService(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      '-C',
      'sessionkeeper-source',
      '--import',
      'tsx',
      'packages/server/src/cli/main.ts',
      'serve',
      ...args,
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`sessionkeeper serve exited with ${code}`)));
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; level?: number };
        if (entry.msg === 'sessionkeeper listening' && entry.url) resolve(entry.url);
        if ((entry.level ?? 0) >= 40) process.stderr.write(`[service] ${line}\n`);
      } catch {
        process.stderr.write(`[service] ${line}\n`); // not a log line: the API key notice, …
      }
    });
  });
  return { url, child };
}
