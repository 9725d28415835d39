import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A fresh directory under the OS temp dir for this test file, removed when the file's tests end. */
export function withTempDir(prefix: string): (name: string) => string {
  const dir = mkdtempSync(join(tmpdir(), `sk-sqlite-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return (name) => join(dir, name);
}
