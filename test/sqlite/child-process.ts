import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A fixture script (`test/sqlite/fixtures/<script>`) running in its own Node process via tsx. */
export class FixtureProcess {
  readonly process: ChildProcessWithoutNullStreams;
  /** stdout so far, line by line. */
  readonly lines: string[] = [];
  /** Resolves once the process has exited and its output is fully read. */
  readonly exited: Promise<Exit>;
  #stderr = '';
  #closed = false;
  #waiters: (() => void)[] = [];

  constructor(script: string, args: string[]) {
    const file = fileURLToPath(new URL(`./fixtures/${script}`, import.meta.url));
    this.process = spawn(
      process.execPath,
      ['-C', 'sessionkeeper-source', '--import', 'tsx', file, ...args],
      {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.process.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    createInterface({ input: this.process.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.#wake();
    });
    this.exited = new Promise((resolve) => {
      this.process.once('close', (code, signal) => {
        this.#closed = true;
        this.#wake();
        resolve({ code, signal });
      });
    });
  }

  /** stdout line `index` (0-based), waiting for it; rejects if the process ends without it. */
  async line(index: number): Promise<string> {
    for (;;) {
      const line = this.lines[index];
      if (line !== undefined) return line;
      if (this.#closed) throw new Error(`fixture exited early; stderr:\n${this.#stderr}`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** The last stdout line as JSON, once the process exited with code 0. */
  async result<T>(): Promise<T> {
    const { code, signal } = await this.exited;
    const last = this.lines.at(-1);
    if (code !== 0 || last === undefined) {
      throw new Error(`fixture exited with ${code ?? signal}; stderr:\n${this.#stderr}`);
    }
    return JSON.parse(last) as T;
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}

/** Waits until every fixture printed `ready`, then releases them all at once with `go`. */
export async function startTogether(fixtures: FixtureProcess[]): Promise<void> {
  const ready = await Promise.all(fixtures.map((fixture) => fixture.line(0)));
  for (const line of ready) if (line !== 'ready') throw new Error(`expected "ready", got ${line}`);
  for (const fixture of fixtures) fixture.process.stdin.write('go\n');
}
