import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
}

/** Runs `sessionkeeper <args>` from source and collects its output by line. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  return collect(
    spawn(
      process.execPath,
      ['-C', 'sessionkeeper-source', '--import', 'tsx', 'packages/server/src/cli/main.ts', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
}

/**
 * Runs `npm start -- <args>` in the repository, as a newcomer does: the built service, without
 * the export condition the tests set to load package sources.
 */
export function runNpmStart(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const { NODE_OPTIONS: _sourceCondition, ...inherited } = process.env;
  return collect(
    spawn('npm', ['start', '--', ...args], {
      cwd: REPO_ROOT,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

function collect(child: ChildProcess): CliRun {
  const run: CliRun = {
    child,
    stdout: [],
    stderr: [],
    exited: once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string),
  };
  collectLines(child.stdout, run.stdout);
  collectLines(child.stderr, run.stderr);
  return run;
}

/** Waits for the start-up log line and returns the URL it names. */
export async function listeningUrl(run: CliRun, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of run.stdout) {
      const entry = parseJson(line);
      if (entry?.msg === 'sessionkeeper listening' && typeof entry.url === 'string')
        return entry.url;
    }
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the server did not start:\n${run.stdout.join('\n')}\n${run.stderr.join('\n')}`);
}

export function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function collectLines(stream: NodeJS.ReadableStream | null, into: string[]): void {
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    into.push(...parts);
  });
  stream?.on('end', () => {
    if (partial) into.push(partial);
  });
}
