import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionEvent } from '../../packages/sessionkeeper/src/core/types.js';

/**
 * The file side of the upload → process → download flow, shared by the three test apps: each
 * session owns one directory; processing upper-cases the upload slowly; cleanup deletes the
 * directory when the session ends.
 */
export class FileJobs {
  constructor(
    readonly root: string,
    /** How long processing takes, in real milliseconds. */
    readonly processMs: number,
  ) {}

  dirOf(sessionId: string): string {
    return join(this.root, sessionId);
  }

  async saveUpload(sessionId: string, body: Uint8Array): Promise<number> {
    await mkdir(this.dirOf(sessionId), { recursive: true });
    await writeFile(join(this.dirOf(sessionId), 'upload.txt'), body);
    return body.byteLength;
  }

  /** Upper-cases the upload into result.txt, taking `processMs`; null when nothing was uploaded. */
  async process(sessionId: string, signal?: AbortSignal): Promise<number | null> {
    const upload = join(this.dirOf(sessionId), 'upload.txt');
    if (!existsSync(upload)) return null;
    const text = await readFile(upload, 'utf8');
    const steps = 10;
    for (let i = 0; i < steps; i++) {
      signal?.throwIfAborted();
      await sleep(this.processMs / steps);
    }
    const result = text.toUpperCase();
    await writeFile(join(this.dirOf(sessionId), 'result.txt'), result);
    return Buffer.byteLength(result);
  }

  async readResult(sessionId: string): Promise<string | null> {
    const file = join(this.dirOf(sessionId), 'result.txt');
    return existsSync(file) ? readFile(file, 'utf8') : null;
  }

  /** The onSessionEnded hook: delete everything the session owned. */
  readonly cleanup = async (event: SessionEvent): Promise<void> => {
    await rm(this.dirOf(event.session.id), { recursive: true, force: true });
  };
}
