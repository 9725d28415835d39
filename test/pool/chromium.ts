// What the Chromium tests of the pool share: where Chromium is, and how to find the processes a
// kind started (to prove that none is left behind).
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether Chromium is installed; in CI its absence fails the suite instead of skipping it. */
export function chromiumAvailable(suite: string): boolean {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.CI)
    throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium for ${suite}`);
  if (!available) console.warn(`skipping ${suite}: ${CHROMIUM} is not installed`);
  return available;
}

/**
 * Pids of live (not zombie) processes started for `marker`: those that inherited the marker in
 * their environment (the browser and its crash handlers, which re-parent to init) and every
 * descendant of those (zygotes and renderers start with a cleaned environment).
 */
export function processesOf(marker: string): number[] {
  const parents = new Map<number, number>();
  const ours = new Set<number>();
  for (const name of readdirSafe('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = readSafe(`/proc/${pid}/stat`);
    if (!stat) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') continue; // exited, waiting to be reaped
    parents.set(pid, Number(fields[1]));
    if (readSafe(`/proc/${pid}/environ`)?.includes(marker)) ours.add(pid);
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parents)
      if (!ours.has(pid) && ours.has(parent)) {
        ours.add(pid);
        grew = true;
      }
  }
  return [...ours].sort((a, b) => a - b);
}

/** Whether `pid` is a live process (not gone, not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  const state = readSafe(`/proc/${pid}/stat`)?.split(') ')[1]?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function readSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}
