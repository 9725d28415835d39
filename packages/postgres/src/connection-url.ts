import { ValidationError } from 'sessionkeeper/internal/errors';

/** A `postgres://` URL taken apart. `location` is the URL without any secret, for logs and errors. */
export interface PostgresUrl {
  host: string;
  port: number;
  database: string;
  user: string | undefined;
  password: string | undefined;
  /** false: plain TCP; otherwise TLS, verifying the server certificate unless `rejectUnauthorized` is false. */
  ssl: false | { rejectUnauthorized: boolean };
  sslmode: SslMode;
  location: string;
}

export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

const FORM =
  'postgres://[user[:password]@]host[:port]/database[?sslmode=disable|require|verify-ca|verify-full] (or postgresql://)';

function fail(detail: string): never {
  throw new ValidationError('url', `${detail}; expected ${FORM}`);
}

/**
 * `sslmode` as libpq names it. `prefer` and `allow` are refused: they fall back to plain text
 * without saying so. `verify-ca` verifies the chain and, as Node always does, the host name too.
 */
function sslFor(mode: string): PostgresUrl['ssl'] {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
    case 'prefer':
    case 'allow':
      return fail(
        `sslmode=${mode} would silently fall back to an unencrypted connection; choose disable or require (or verify-full)`,
      );
    default:
      return fail(`unknown sslmode "${mode}"`);
  }
}

/** Parses `postgres://` and `postgresql://` URLs (the database is required; port 5432 by default). */
export function parsePostgresUrl(url: string): PostgresUrl {
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) fail('not a PostgreSQL URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail('malformed URL');
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (host === '') fail('no host');
  const port = parsed.port === '' ? 5432 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`port ${parsed.port} is out of range`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) fail('the path must be the database name');
  const user = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  let sslmode: SslMode = 'disable';
  let ssl: PostgresUrl['ssl'] = false;
  for (const [name, value] of parsed.searchParams) {
    if (name !== 'sslmode') fail(`unknown parameter "${name}"`);
    ssl = sslFor(value);
    sslmode = value as SslMode;
  }
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const account = user === undefined ? '' : `${encodeURIComponent(user)}@`;
  const query = sslmode === 'disable' ? '' : `?sslmode=${sslmode}`;
  return {
    host,
    port,
    database,
    user,
    password,
    ssl,
    sslmode,
    location: `${parsed.protocol}//${account}${shownHost}:${port}/${encodeURIComponent(database)}${query}`,
  };
}

const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A schema name the store can quote safely: a letter or _ then up to 62 of A-Z a-z 0-9 _. */
export function checkSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema)) {
    throw new ValidationError(
      'schema',
      'must be 1 to 63 characters of A-Z a-z 0-9 _, not starting with a digit',
    );
  }
  if (schema.toLowerCase().startsWith('pg_')) {
    throw new ValidationError('schema', 'names starting with pg_ are reserved by PostgreSQL');
  }
  return schema;
}
