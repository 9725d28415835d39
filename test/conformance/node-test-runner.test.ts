import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../packages/sessionkeeper/src/core/errors.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import {
  conformanceCaseNames,
  describeStoreConformance,
} from '../../packages/sessionkeeper/src/testing/index.js';

// The conformance suite must work for store authors on any runner: here it runs under node:test
// in a child process (no vitest in sight), once on good stores and once on a broken one.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = 'test/conformance/fixtures/node-test-suite.ts';
const cases = conformanceCaseNames();
const caseTitles = new Set(cases.map((name) => name.split(' > ').at(-1) as string));

interface TapRun {
  code: number | null;
  output: string;
  summary: Record<string, number>;
  failed: string[];
}

function runUnderNodeTest(store: 'good' | 'broken'): Promise<TapRun> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['-C', 'sessionkeeper-source', '--import', 'tsx', '--test', '--test-reporter=tap', fixture],
      {
        cwd: root,
        env: { ...process.env, CONFORMANCE_STORE: store },
        timeout: 50_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          fail(error);
          return;
        }
        const output = `${stdout}${stderr}`;
        const summary: Record<string, number> = {};
        for (const [, key, value] of output.matchAll(/^# (\w+) (\d+)$/gm)) {
          summary[key as string] = Number(value);
        }
        // Failing cases only: suites with a failing case print `not ok` too.
        const failed = [...output.matchAll(/^\s*not ok \d+ - (.*)$/gm)]
          .map((m) => m[1] as string)
          .filter((title) => caseTitles.has(title));
        done({ code: error ? (error.code as number) : 0, output, summary, failed });
      },
    );
  });
}

describe('the store conformance suite under node --test', () => {
  it('lists its cases: one name per case, all different', () => {
    expect(cases.length).toBeGreaterThan(40);
    expect(new Set(cases).size).toBe(cases.length);
    expect(caseTitles.size).toBe(cases.length); // so TAP titles identify cases
    expect(cases).toContain(
      'throttled touch > never lets a session in steady use expire, whatever the throttle',
    );
  });

  it('refuses to start without the runner, naming the missing function', () => {
    const factory = { create: async () => createMemoryStore() };
    const register = (runner: unknown) => () =>
      describeStoreConformance('memory', factory, runner as never);
    expect(register(undefined)).toThrow(ValidationError);
    expect(register(undefined)).toThrow(/runner\.describe/);
    // A node:test user who passes `after` under its own name.
    const nodeStyle = { describe: () => {}, it: () => {}, afterEach: () => {}, after: () => {} };
    expect(register(nodeStyle)).toThrow(/runner\.afterAll: .*afterAll: after/);
  });

  it('passes every case on the memory and SQLite stores, and fails the cases a store that never records activity breaks', async () => {
    const [good, broken] = await Promise.all([
      runUnderNodeTest('good'),
      runUnderNodeTest('broken'),
    ]);

    expect(good.code, good.output.slice(-3000)).toBe(0);
    expect(good.summary).toMatchObject({
      tests: 2 * cases.length,
      pass: 2 * cases.length,
      fail: 0,
    });

    expect(broken.code, broken.output.slice(-3000)).not.toBe(0);
    expect(broken.summary.tests).toBe(cases.length);
    expect(broken.summary.fail).toBe(broken.failed.length);
    expect((broken.summary.pass ?? 0) + broken.failed.length).toBe(cases.length);
    expect(broken.failed).toEqual(
      expect.arrayContaining([
        'expires a session once its idle timeout passes without activity, with a specific detail',
        'never lets a session in steady use expire, whatever the throttle',
        'writes activity at most once per touch interval and says when it did (fresh)',
      ]),
    );
    // The failure says what was expected, not just that something threw.
    expect(broken.output).toMatch(/expired after \d+ uses 9\.9 s apart/);
  }, 60_000);

  it('loads sessionkeeper/testing with only the package’s dependencies and Node built-ins', () => {
    const pkgDir = join(root, 'packages/sessionkeeper');
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const allowed = (specifier: string) =>
      specifier.startsWith('node:') ||
      Object.hasOwn(pkg.dependencies, specifier.split('/')[0] as string);
    // Follow every relative import from the entry point, collecting the bare ones.
    const seen = new Set<string>();
    const bare = new Set<string>();
    const queue = [join(pkgDir, 'src/testing/index.ts')];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      // Static imports and re-exports (type-only ones load nothing), side-effect and dynamic imports.
      const statements = source.matchAll(/^(?:import|export)\s(type\s)?[^;]*?from\s'([^']+)'/gm);
      const others = source.matchAll(/(?:^import\s|\bimport\()'([^']+)'/gm);
      const specifiers = [
        ...[...statements].filter((m) => !m[1]).map((m) => m[2] as string),
        ...[...others].map((m) => m[1] as string),
      ];
      for (const specifier of specifiers) {
        if (specifier.startsWith('.')) {
          queue.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
        } else bare.add(specifier);
      }
    }
    expect(seen.size).toBeGreaterThan(5);
    expect([...bare].filter((specifier) => !allowed(specifier))).toEqual([]);
  });
});
