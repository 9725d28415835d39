/**
 * Upload a file, process it (a deliberately long job), download the result — with sessions that
 * survive the job, a restart, and clean up after themselves. `npm run example:files`, then open
 * http://localhost:3000. See README.md in this folder for what to try.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { sessionMiddleware } from '@sessionkeeper/express';
import express, { type Request } from 'express';
import { pino } from 'pino';
import { createSqliteStore } from 'sessionkeeper/sqlite';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import type { SessionTiming } from '../../packages/sessionkeeper/src/core/types.js';

const PORT = Number(process.env.PORT ?? 3000);
const HOST = process.env.HOST ?? '127.0.0.1';
/** Shorter than the job on purpose: only the lease keeps the session alive while it runs. */
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 8);
const JOB_SECONDS = Number(process.env.JOB_SECONDS ?? 10);
/** LEASE=off processes without holding the session: watch it expire mid-job (the original bug). */
const LEASE = process.env.LEASE !== 'off';
const DATA_DIR = process.env.DATA_DIR ?? fileURLToPath(new URL('./data/', import.meta.url));
const FILES_DIR = join(DATA_DIR, 'files');

type UserData = { name: string };

await mkdir(FILES_DIR, { recursive: true });
const engine = await createSessionEngine<UserData>({
  store: createSqliteStore({ path: join(DATA_DIR, 'sessions.db') }),
  idleTimeoutSeconds: IDLE_SECONDS,
  absoluteTimeoutSeconds: 3600,
  sweepIntervalSeconds: 2, // find expired sessions (and delete their files) within two seconds
  logger: pino({ level: process.env.SESSIONKEEPER_LOG_LEVEL ?? 'warn' }),
});

// loginPath: a download link clicked after expiry lands back on the page, told why.
const sk = sessionMiddleware(engine, { loginPath: '/' });

/** Each session owns one directory; when the session ends, however it ends, the directory goes. */
const dirOf = (sessionId: string) => join(FILES_DIR, sessionId);
sk.onSessionEnded(async (event) => {
  await rm(dirOf(event.session.id), { recursive: true, force: true });
  console.log(
    `session of ${event.session.data.name} ${event.type} (${event.reason}): deleted ${dirOf(event.session.id)}`,
  );
});

/** Jobs running in this process, by session id (a restart forgets them; their files stay). */
const running = new Map<string, { startedAt: number }>();

const app = express();
app.use(sk);

const sessionIdOf = (req: Request) => sk.context(req).sessionId as string;

function sessionJson(name: string, timing: SessionTiming | null) {
  return {
    name,
    idleTimeoutSeconds: IDLE_SECONDS,
    idleRemainingSeconds: timing?.idleRemainingSeconds ?? null,
    absoluteRemainingSeconds: timing?.absoluteRemainingSeconds ?? null,
  };
}

async function fileState(sessionId: string) {
  const dir = dirOf(sessionId);
  const meta = existsSync(join(dir, 'meta.json'))
    ? (JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as {
        name: string;
        bytes: number;
      })
    : null;
  const job = running.get(sessionId);
  return {
    upload: meta,
    processing: job ? { secondsLeft: JOB_SECONDS - (Date.now() - job.startedAt) / 1000 } : null,
    result: existsSync(join(dir, 'result.json'))
      ? (JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as { sha256: string })
      : null,
  };
}

app.get('/', async (_req, res) => {
  const page = await readFile(new URL('./index.html', import.meta.url), 'utf8');
  res.type('html').send(page.replace('<body>', `<body data-job-seconds="${JOB_SECONDS}">`));
});

app.post('/login', express.json(), async (req, res) => {
  const name = String((req.body as { name?: unknown }).name ?? '').trim() || 'guest';
  const { session } = await sk.context(req).login({ subject: name, data: { name } });
  res.json({
    session: sessionJson(name, sk.context(req).timing),
    files: await fileState(session.id),
  });
});

app.post('/logout', async (req, res) => {
  await sk.context(req).logout();
  res.status(204).end();
});

// Reading the session is a use of it: it moves the idle deadline like any other request.
app.get('/api/session', sk.guard(), async (req, res) => {
  const ctx = sk.context(req);
  res.json({
    session: sessionJson(ctx.session?.data.name ?? '', ctx.timing),
    files: await fileState(sessionIdOf(req)),
  });
});

app.put(
  '/api/upload',
  sk.guard(),
  express.raw({ type: () => true, limit: '20mb' }),
  async (req, res) => {
    const dir = dirOf(sessionIdOf(req));
    const body = req.body as Buffer;
    const name = decodeURIComponent(String(req.headers['x-file-name'] ?? 'upload.txt')).slice(
      0,
      200,
    );
    await mkdir(dir, { recursive: true });
    await rm(join(dir, 'result.txt'), { force: true });
    await writeFile(join(dir, 'upload.bin'), body);
    await writeFile(join(dir, 'meta.json'), JSON.stringify({ name, bytes: body.length }));
    res.status(201).json({ files: await fileState(sessionIdOf(req)) });
  },
);

/**
 * The long job: upper-cases the upload and computes its SHA-256 in chunks, spread over
 * JOB_SECONDS. Run inside holdWhile (sk.hold() holds the session until the response is sent), so
 * the session outlives its idle timeout while the page just waits.
 */
async function processUpload(sessionId: string): Promise<{ sha256: string; bytes: number }> {
  const dir = dirOf(sessionId);
  const input = await readFile(join(dir, 'upload.bin'));
  const hash = createHash('sha256');
  const steps = Math.max(1, JOB_SECONDS * 4);
  const chunk = Math.ceil(input.length / steps);
  const output: string[] = [];
  for (let i = 0; i < steps; i++) {
    const part = input.subarray(i * chunk, (i + 1) * chunk);
    hash.update(part);
    output.push(part.toString('utf8').toUpperCase());
    await sleep((JOB_SECONDS * 1000) / steps);
  }
  const sha256 = hash.digest('hex');
  // If the session ended meanwhile its directory is gone, and these writes fail: nothing is resurrected.
  await writeFile(join(dir, 'result.txt'), output.join(''), { flag: 'w' });
  await writeFile(join(dir, 'result.json'), JSON.stringify({ sha256 }));
  return { sha256, bytes: input.length };
}

const holdIfLeasing = LEASE ? [sk.hold()] : [];
app.post('/api/process', sk.guard(), ...holdIfLeasing, async (req, res) => {
  const sessionId = sessionIdOf(req);
  if (!existsSync(join(dirOf(sessionId), 'upload.bin'))) {
    res.status(409).json({ error: 'Upload a file first' });
    return;
  }
  if (running.has(sessionId)) {
    res.status(409).json({ error: 'Already processing' });
    return;
  }
  running.set(sessionId, { startedAt: Date.now() });
  let result: { sha256: string; bytes: number };
  try {
    result = await processUpload(sessionId);
  } catch (error) {
    const gone = (error as NodeJS.ErrnoException).code === 'ENOENT';
    res.status(410).json({
      error: gone
        ? 'Processing failed: the session ended while the job ran, and its files were deleted'
        : `Processing failed: ${(error as Error).message}`,
    });
    return;
  } finally {
    running.delete(sessionId);
  }
  res.json({ result, files: await fileState(sessionId) });
});

app.get('/api/download', sk.guard(), async (req, res) => {
  const dir = dirOf(sessionIdOf(req));
  if (!existsSync(join(dir, 'result.json'))) {
    res.status(404).json({ error: 'Nothing processed yet' });
    return;
  }
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { name: string };
  res.download(join(dir, 'result.txt'), `processed-${meta.name.replace(/[^\w.-]/g, '_')}`);
});

app.use(sk.errorHandler);

const server = app.listen(PORT, HOST, () => {
  console.log(`file-processing example on http://localhost:${PORT}`);
  console.log(
    `idle timeout ${IDLE_SECONDS} s, job ${JOB_SECONDS} s, lease ${LEASE ? 'on' : 'OFF'}; sessions and files under ${DATA_DIR}`,
  );
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    void engine.close().then(() => process.exit(0));
  });
}
