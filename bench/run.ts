import { benchMiddleware } from './middleware.bench.js';
import { benchPool } from './pool.bench.js';
import { benchPostgres } from './postgres.bench.js';
import { benchRedis } from './redis.bench.js';
import { printTable } from './report.js';
import { benchServer } from './server.bench.js';
import { benchSqlite } from './sqlite.bench.js';
import { benchTokens } from './tokens.bench.js';

// `npm run bench [section…]`: prints tables of measured figures beside their targets, every
// section or the ones named (e.g. `npm run bench -- middleware postgres`). Not a test.
const SECTIONS = {
  sqlite: ['Core engine on SQLite (issue 2)', benchSqlite],
  redis: ['Redis store (issue 3)', benchRedis],
  tokens: ['Access and refresh tokens (issue 4)', benchTokens],
  server: ['HTTP server (issue 5)', benchServer],
  middleware: ['Middleware (issue 6)', benchMiddleware],
  pool: ['Upstream session pool (issue 8)', benchPool],
  postgres: ['PostgreSQL store (issue 18)', benchPostgres],
} as const;
type Section = keyof typeof SECTIONS;

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) {
  console.error(
    `unknown bench section ${unknown.join(', ')}; sections: ${Object.keys(SECTIONS).join(', ')}`,
  );
  process.exit(2);
}
console.log(`# sessionkeeper benchmarks (node ${process.version}, ${new Date().toISOString()})`);
for (const name of (asked.length > 0 ? asked : Object.keys(SECTIONS)) as Section[]) {
  const [title, run] = SECTIONS[name];
  printTable(title, await run());
}
