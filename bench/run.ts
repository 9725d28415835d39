import { benchMiddleware } from './middleware.bench.js';
import { benchPool } from './pool.bench.js';
import { benchPostgres } from './postgres.bench.js';
import { benchRedis } from './redis.bench.js';
import { printTable } from './report.js';
import { benchServer } from './server.bench.js';
import { benchSqlite } from './sqlite.bench.js';
import { benchTokens } from './tokens.bench.js';

// `npm run bench`: prints tables of measured figures beside their targets. Not a test: nothing fails.
console.log(`# sessionkeeper benchmarks (node ${process.version}, ${new Date().toISOString()})`);
printTable('Core engine on SQLite (issue 2)', await benchSqlite());
printTable('Redis store (issue 3)', await benchRedis());
printTable('Access and refresh tokens (issue 4)', await benchTokens());
printTable('HTTP server (issue 5)', await benchServer());
printTable('Middleware (issue 6)', await benchMiddleware());
printTable('Upstream session pool (issue 8)', await benchPool());
printTable('PostgreSQL store (issue 18)', await benchPostgres());
