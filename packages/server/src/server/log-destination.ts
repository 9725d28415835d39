import { write, writeSync } from 'node:fs';

/** Log lines held while the reader of stdout is slow; past it new lines are dropped, not queued. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** How long to wait before writing again after EAGAIN (a non-blocking pipe that is full). */
const RETRY_MS = 10;

/**
 * Where the server's JSON log lines go: a file descriptor (stdout), written asynchronously, that
 * never holds the process up. pino's default destination retries a failed write forever when it
 * flushes at exit, so a closed stdout pipe (`serve | head`) made shutdown hang; here a write that
 * fails for any reason but EAGAIN marks the destination broken and every later line is dropped.
 */
export interface LogDestination {
  /** Queues one line (pino calls this). Never throws, never blocks. */
  write(line: string): void;
  /**
   * (Not `flush`: pino calls a destination's `flush` with a callback.)
   * Resolves once every queued line is written, the destination broke, or `timeoutMs` passed,
   * whichever comes first: shutdown waits for its last lines, never longer than it can afford.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Drops whatever is queued and stops writing, so an exit that follows writes nothing more. */
  abandon(): void;
  /** True once a write failed (EPIPE, EBADF…) and lines are being dropped. */
  readonly broken: boolean;
}

/** The exit-time flush of every live destination; one `exit` listener for them all. */
const exitFlushes = new Set<() => void>();
let exitListening = false;

export function createLogDestination(fd = 1): LogDestination {
  let pending: string[] = [];
  let pendingBytes = 0;
  let writing = false;
  let broken = false;
  let abandoned = false;
  const idle = new Set<() => void>();

  const settle = () => {
    for (const resolve of idle) resolve();
    idle.clear();
  };
  const fail = () => {
    broken = true;
    writing = false;
    pending = [];
    pendingBytes = 0;
    settle();
  };
  const writeOut = (buffer: Buffer) => {
    write(fd, buffer, 0, buffer.length, null, (error, written) => {
      if (abandoned) return;
      if (error) {
        if (error.code === 'EAGAIN') setTimeout(() => writeOut(buffer), RETRY_MS).unref();
        else fail();
        return;
      }
      if (written < buffer.length) return writeOut(buffer.subarray(written));
      writing = false;
      pump();
    });
  };
  const pump = () => {
    if (writing || broken || abandoned) return;
    if (pending.length === 0) return settle();
    const chunk = Buffer.from(pending.join(''));
    pending = [];
    pendingBytes = 0;
    writing = true;
    writeOut(chunk);
  };

  // A process that exits without flushing (a library user's process.exit) still gets its last
  // lines out: one synchronous attempt, no retry, so a broken or full pipe cannot hold the exit.
  exitFlushes.add(() => {
    if (broken || abandoned || pending.length === 0) return;
    try {
      writeSync(fd, pending.join(''));
    } catch {
      // Nowhere left to report it.
    }
  });
  if (!exitListening) {
    exitListening = true;
    process.once('exit', () => {
      for (const flushNow of exitFlushes) flushNow();
    });
  }

  return {
    write(line) {
      if (broken || abandoned) return;
      if (pendingBytes + line.length > MAX_PENDING_BYTES) return;
      pending.push(line);
      pendingBytes += line.length;
      pump();
    },
    drain(timeoutMs) {
      if (broken || abandoned || (!writing && pending.length === 0)) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          idle.delete(done);
          resolve();
        }, timeoutMs);
        timer.unref();
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        idle.add(done);
      });
    },
    abandon() {
      abandoned = true;
      pending = [];
      pendingBytes = 0;
      settle();
    },
    get broken() {
      return broken;
    },
  };
}
