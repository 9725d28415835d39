import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export interface RedisServerProcess {
  port: number;
  url: string;
  /** Sends a signal to the server process, e.g. SIGSTOP / SIGCONT to make it hang. */
  signal(signal: NodeJS.Signals): void;
  /** Stops the server (SIGKILL when `hard`) and waits until it has exited. */
  stop(hard?: boolean): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port nobody listens on; with `busOffset`, port + busOffset is free too (Cluster bus). */
export async function sparePort(busOffset?: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    if (!(await portIsFree(port))) continue;
    if (busOffset !== undefined && !(await portIsFree(port + busOffset))) continue;
    return port;
  }
  throw new Error('No spare port found');
}

/** Sends one inline command and resolves with the raw reply, or rejects. */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error('timeout')));
    socket.once('error', fail);
    socket.connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.endsWith('\r\n')) {
        socket.end();
        resolve(reply);
      }
    });
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

const running = new Set<ChildProcess>();
// A crashed test run must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `redis-server` on `port` (a spare one by default) with persistence off, in `dir`, and
 * resolves once it answers PING.
 */
export async function startRedisServer(options: {
  dir: string;
  port?: number;
  args?: string[];
}): Promise<RedisServerProcess> {
  const port = options.port ?? (await sparePort());
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      ...(options.args ?? []),
    ],
    { stdio: 'ignore' },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  const stop = async (hard = false) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(hard ? 'SIGKILL' : 'SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(killer);
    }
  };
  try {
    await waitFor(`redis-server on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited`);
      return (await rawCommand(port, 'PING')).startsWith('+PONG');
    });
  } catch (error) {
    await stop(true);
    throw error;
  }
  return { port, url: `redis://127.0.0.1:${port}`, signal: (name) => child.kill(name), stop };
}
