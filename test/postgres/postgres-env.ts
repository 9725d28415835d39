import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL the integration tests use (trust auth on the test machine). */
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** In CI a missing PostgreSQL fails the run; elsewhere the PostgreSQL tests skip. */
export const IN_CI = Boolean(process.env.CI);

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether the shared PostgreSQL answers; in CI, throws when it does not. */
export const postgresAvailable = await answers(POSTGRES_URL);
if (!postgresAvailable && IN_CI) {
  throw new Error(
    `CI is set but no PostgreSQL answers at ${POSTGRES_URL}; the PostgreSQL tests must run in CI`,
  );
}

/** A schema name of its own for one test run: `sk_test_<random>`. */
export function uniqueSchema(): string {
  return `sk_test_${randomBytes(5).toString('hex')}`;
}

/** Drops the given schemas (and everything in them). */
export async function dropSchemas(schemas: Iterable<string>, url = POSTGRES_URL): Promise<void> {
  const names = [...schemas];
  if (names.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    for (const name of names) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  } finally {
    await client.end();
  }
}
