// `npm run footprint`: what installing our packages costs a user. Builds, packs every workspace,
// then per scenario installs the tarballs (and the scenario's framework) into a fresh app in a
// temporary directory, with install scripts on, the way a user's `npm install` runs them. Prints
// a Markdown table and checks the targets of issue 15; exits 1 naming every target missed.
// Writes nothing into the repo except the build; installs go to the registry through npm's cache.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..');
const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const OURS = new Set(
  root.workspaces.map((dir) => JSON.parse(readFileSync(join(REPO, dir, 'package.json'))).name),
);

// The framework versions the repo develops against (its lock), so the figures match what is tested.
function repoVersion(name) {
  const file = join(REPO, 'node_modules', name, 'package.json');
  return existsSync(file) ? `${name}@${JSON.parse(readFileSync(file, 'utf8')).version}` : name;
}

/**
 * The environment of the installs: no NODE_OPTIONS (the repo's source condition) and none of the
 * npm_* settings of the enclosing `npm run` (its prefix is the repo), except where the cache is.
 */
function cleanEnv() {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => key !== 'NODE_OPTIONS' && (!key.toLowerCase().startsWith('npm_') || keep.has(key)),
    ),
  );
}

const SQLITE = ['better-sqlite3'];
const FORBIDDEN_ON_EXPRESS = [
  'fastify',
  '@fastify/*',
  'ioredis',
  'undici',
  'tough-cookie',
  'prom-client',
  'playwright-core',
];

/**
 * ours: our packages installed from tarballs (a package's own dependencies and peers of ours
 * included, since none is on the registry yet); theirs: what the app installs beside them.
 */
const SCENARIOS = [
  { id: 'client', title: 'Browser app, client only', ours: ['@sessionkeeper/client'], theirs: [] },
  {
    id: 'react',
    title: 'Browser app, React bindings',
    ours: ['@sessionkeeper/client', '@sessionkeeper/react'],
    theirs: ['react'],
  },
  { id: 'express', title: 'Express alone (baseline)', ours: [], theirs: ['express'] },
  {
    id: 'express-sqlite',
    title: 'Express app on SQLite',
    ours: ['sessionkeeper', '@sessionkeeper/middleware', '@sessionkeeper/express'],
    theirs: ['express', ...SQLITE],
  },
  {
    id: 'fastify-sqlite',
    title: 'Fastify app on SQLite',
    ours: ['sessionkeeper', '@sessionkeeper/middleware', '@sessionkeeper/fastify'],
    theirs: ['fastify', ...SQLITE],
  },
  {
    id: 'hono-redis',
    title: 'Hono app on Redis',
    ours: [
      'sessionkeeper',
      '@sessionkeeper/middleware',
      '@sessionkeeper/hono',
      '@sessionkeeper/redis',
    ],
    theirs: ['hono'],
  },
  {
    id: 'express-postgres',
    title: 'Express app on PostgreSQL',
    ours: [
      'sessionkeeper',
      '@sessionkeeper/middleware',
      '@sessionkeeper/express',
      '@sessionkeeper/postgres',
    ],
    theirs: ['express'],
  },
  {
    id: 'service',
    title: 'The service (`npx sessionkeeper`)',
    ours: [
      'sessionkeeper',
      '@sessionkeeper/middleware',
      '@sessionkeeper/redis',
      '@sessionkeeper/postgres',
      '@sessionkeeper/server',
    ],
    theirs: [],
  },
  {
    id: 'pool',
    title: 'Pool over HTTP',
    ours: ['sessionkeeper', '@sessionkeeper/pool'],
    theirs: [],
  },
];

/** Every installed package (name, path) from npm's hidden lockfile; links are not installs. */
function installedPackages(app) {
  const lock = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8'));
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path !== '' && !meta.link)
    .map(([path, meta]) => ({
      name: meta.name ?? path.slice(path.lastIndexOf('node_modules/') + 13),
      path,
    }));
}

/** The names of a package and of everything it depends on, from npm's hidden lockfile. */
function dependencyClosure(app, name) {
  const lock = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8'));
  const seen = new Set();
  const visit = (n) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const dep of Object.keys(lock.packages[`node_modules/${n}`]?.dependencies ?? {}))
      visit(dep);
  };
  visit(name);
  return seen;
}

function diskBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += diskBytes(path);
    else total += lstatSync(path).size;
  }
  return total;
}

/** Packages with a binding.gyp: whether their build produced a `.node` file. */
function nativePackages(app, packages) {
  return packages
    .filter((p) => existsSync(join(app, p.path, 'binding.gyp')))
    .map((p) => ({ name: p.name, built: hasNodeFile(join(app, p.path, 'build')) }));
}

function hasNodeFile(dir) {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some((e) =>
    e.isDirectory() ? hasNodeFile(join(dir, e.name)) : e.name.endsWith('.node'),
  );
}

/**
 * Starts `sessionkeeper serve` on a SQLite file in the app and waits for its start-up line,
 * which proves the native build loads; then stops it. Resolves true, or what it printed.
 */
function servesOnSqlite(app) {
  return new Promise((resolvePromise) => {
    // The bin itself, not through npx: a signal to npx would not reach the server it starts.
    const bin = join(app, 'node_modules/.bin/sessionkeeper');
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--port', '0', '--store', 'sqlite:./data/s.db'],
      { cwd: app, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGTERM');
      resolvePromise(result);
    };
    const timer = setTimeout(() => done(`no start-up line in 60 s:\n${output}`), 60_000);
    const read = (chunk) => {
      output += chunk;
      if (output.includes('sessionkeeper listening')) done(true);
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => done(`exited with ${code}:\n${output}`));
  });
}

const matches = (name, pattern) =>
  pattern.endsWith('/*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

// `node scripts/footprint.mjs express express-sqlite` measures just those scenarios.
const only = process.argv.slice(2);
const scenarios = only.length ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;
if (scenarios.length !== (only.length || SCENARIOS.length)) {
  console.error(`unknown scenario; choose from ${SCENARIOS.map((s) => s.id).join(', ')}`);
  process.exit(2);
}

// --- build, pack -----------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'sessionkeeper-footprint-'));
const failures = [];
try {
  console.error('building…');
  execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarballDir = join(work, 'tarballs');
  mkdirSync(tarballDir);
  const packed = JSON.parse(
    execFileSync(
      'npm',
      ['pack', '--workspaces', '--ignore-scripts', '--json', '--pack-destination', tarballDir],
      { cwd: REPO, encoding: 'utf8', env: cleanEnv() },
    ),
  );
  const tarball = new Map(packed.map((p) => [p.name, join(tarballDir, p.filename)]));

  // --- install each scenario ---------------------------------------------------------------
  const results = new Map();
  for (const scenario of scenarios) {
    console.error(`installing: ${scenario.title}…`);
    const app = join(work, scenario.id);
    mkdirSync(app);
    const pkg = { name: `footprint-${scenario.id}`, private: true, type: 'module' };
    // npm 11 runs a dependency's install script only when the app allows it; a SQLite app
    // allows better-sqlite3's build, as our docs tell users to.
    const needsSqlite = scenario.theirs.includes('better-sqlite3') || scenario.id === 'service';
    if (needsSqlite) pkg.allowScripts = { 'better-sqlite3': true };
    writeFileSync(join(app, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const specs = [
      ...scenario.ours.map((n) => tarball.get(n)),
      ...scenario.theirs.map(repoVersion),
    ];
    const started = performance.now();
    const install = spawnSync(
      'npm',
      ['install', '--ignore-scripts=false', '--no-audit', '--no-fund', ...specs],
      { cwd: app, env: cleanEnv(), encoding: 'utf8' },
    );
    const seconds = (performance.now() - started) / 1000;
    if (install.status !== 0) {
      failures.push(`${scenario.title}: npm install failed:\n${install.stderr}`);
      continue;
    }
    const packages = installedPackages(app);
    const native = nativePackages(app, packages);
    results.set(scenario.id, {
      scenario,
      app,
      packages,
      native,
      bytes: diskBytes(join(app, 'node_modules')),
      seconds,
    });
  }

  // --- the table ---------------------------------------------------------------------------
  const lines = [
    '| Scenario | Our packages | Other packages | On disk (node_modules) | Native builds | Install (s) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { scenario, packages, native, bytes, seconds } of results.values()) {
    const ours = packages.filter((p) => OURS.has(p.name)).length;
    const built = native.filter((n) => n.built).map((n) => n.name);
    lines.push(
      `| ${scenario.title} | ${ours} | ${packages.length - ours} | ${mb(bytes)} | ${built.length}${built.length ? ` (${built.join(', ')})` : ''} | ${seconds.toFixed(1)} |`,
    );
  }
  console.log(lines.join('\n'));
  console.log();

  // --- the targets -------------------------------------------------------------------------
  const notes = [];
  const check = (ok, text) => {
    notes.push(`- ${ok ? '✓' : '✗'} ${text}`);
    if (!ok) failures.push(text);
  };
  const names = (id) => new Set(results.get(id)?.packages.map((p) => p.name) ?? []);
  const others = (id) => [...names(id)].filter((n) => !OURS.has(n));
  const builtCount = (id) => results.get(id)?.native.filter((n) => n.built).length ?? 0;
  const forbiddenIn = (id, patterns) =>
    [...names(id)].filter((n) => patterns.some((pattern) => matches(n, pattern)));

  if (results.has('client')) {
    check(
      names('client').size === 1 && others('client').length === 0 && builtCount('client') === 0,
      `client only: 1 package of ours, 0 dependencies, 0 native builds (got ${[...names('client')].join(', ')})`,
    );
  }
  if (results.has('react')) {
    const extra = others('react').filter((n) => n !== 'react');
    check(
      extra.length === 0,
      `React bindings: React and ours only${extra.length ? ` (also: ${extra.join(', ')})` : ''}`,
    );
  }
  for (const id of ['express-sqlite', 'fastify-sqlite']) {
    if (!results.has(id)) continue;
    const unbuilt = results
      .get(id)
      .native.filter((n) => !n.built)
      .map((n) => n.name);
    check(
      builtCount(id) >= 1 && unbuilt.length === 0,
      `${results.get(id).scenario.title}: better-sqlite3 built${unbuilt.length ? ` (not built: ${unbuilt.join(', ')})` : ''}`,
    );
    const works = spawnSync(
      process.execPath,
      ['-e', "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"],
      { cwd: results.get(id).app, env: cleanEnv(), encoding: 'utf8' },
    );
    check(works.status === 0, `${results.get(id).scenario.title}: better-sqlite3 loads`);
  }
  if (results.has('express-sqlite')) {
    const bad = forbiddenIn('express-sqlite', FORBIDDEN_ON_EXPRESS);
    check(
      bad.length === 0,
      `Express on SQLite: none of ${FORBIDDEN_ON_EXPRESS.join(', ')}${bad.length ? ` (found: ${bad.join(', ')})` : ''}`,
    );
    if (results.has('express')) {
      const baseline = names('express');
      const added = [...names('express-sqlite')].filter((n) => !baseline.has(n)).sort();
      const sqlite = dependencyClosure(results.get('express-sqlite').app, 'better-sqlite3');
      const ours = added.filter((n) => OURS.has(n));
      const theirs = added.filter((n) => !OURS.has(n) && !sqlite.has(n));
      const sqliteAdded = added.filter((n) => sqlite.has(n));
      notes.push(
        `- Express on SQLite installs ${added.length} packages more than Express alone: ` +
          `${ours.length} of ours, ${theirs.length} they depend on (${theirs.join(', ')}), ` +
          `and ${sqliteAdded.length} for better-sqlite3 itself (${sqliteAdded.join(', ')})`,
      );
    }
  }
  if (results.has('express-postgres')) {
    const bad = forbiddenIn('express-postgres', ['better-sqlite3', 'ioredis', 'fastify']);
    check(
      bad.length === 0 && builtCount('express-postgres') === 0,
      `Express on PostgreSQL: no better-sqlite3, ioredis or fastify, no native build${bad.length ? ` (found: ${bad.join(', ')})` : ''}`,
    );
  }
  if (results.has('hono-redis')) {
    const bad = forbiddenIn('hono-redis', ['better-sqlite3', 'playwright-core']);
    check(
      bad.length === 0 && builtCount('hono-redis') === 0,
      `Hono on Redis: no better-sqlite3, no native build${bad.length ? ` (found: ${bad.join(', ')})` : ''}`,
    );
  }
  if (results.has('pool')) {
    const bad = forbiddenIn('pool', ['playwright-core', 'better-sqlite3']);
    check(
      bad.length === 0,
      `Pool over HTTP: no playwright-core${bad.length ? ` (found: ${bad.join(', ')})` : ''}`,
    );
  }
  if (results.has('service')) {
    const { app } = results.get('service');
    for (const args of [['--version'], ['--help']]) {
      const cli = spawnSync('npx', ['--no-install', 'sessionkeeper', ...args], {
        cwd: app,
        env: cleanEnv(),
        encoding: 'utf8',
      });
      check(
        cli.status === 0 && cli.stdout.trim() !== '',
        `the service: \`npx sessionkeeper ${args.join(' ')}\` runs from the installed app${cli.status === 0 ? '' : `:\n${cli.stderr}`}`,
      );
    }
    check(builtCount('service') === 1, 'the service: better-sqlite3 built (its default store)');
    const served = await servesOnSqlite(app);
    check(
      served === true,
      `the service: \`sessionkeeper serve\` starts on SQLite${served === true ? '' : `:\n${served}`}`,
    );
  }
  console.log(notes.join('\n'));
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`\nfootprint targets missed:\n${failures.map((f) => `- ${f}`).join('\n')}`);
  process.exit(1);
}
