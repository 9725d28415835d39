import { parseArgs } from 'node:util';
import { checkSchemaName } from '@sessionkeeper/postgres/internal/connection-url';
import { validateKeyPrefix } from '@sessionkeeper/redis/internal/keys';
import { ValidationError } from 'sessionkeeper/internal/errors';
import { checkSubject } from 'sessionkeeper/internal/input';
import { LOG_LEVELS, type LogLevel } from '../server/logger.js';
import { DEFAULT_STORE_URL, parseStoreUrl, type StoreSpec } from '../server/store-url.js';
import { parseTrustProxy } from '../server/trust-proxy.js';
import { isLinkLocalHost, isWebhookUrl, shownUrl } from '../server/webhooks.js';
import { ConfigError } from './config-error.js';
import { type ConfigFile, readConfigFile } from './config-file.js';
import { parseDuration } from './duration.js';

/** Everything `sessionkeeper serve` runs with, after flags > environment > config file > defaults. */
export interface ServeConfig {
  host: string;
  port: number;
  /** Parsed `--store`; its `location` is safe to show (no password). */
  storeSpec: StoreSpec;
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
  maxSessionsPerSubject: number | undefined;
  maxSessions: number | undefined;
  /** Undefined when none is configured: `serve` then uses or generates the key kept in the data directory. */
  apiKey: string | undefined;
  logLevel: LogLevel;
  /** Access and refresh tokens, as the engine's `tokens` option takes them. */
  tokens: ServeTokenConfig;
  /** Undefined when no webhook URL is configured. */
  webhooks: { urls: string[]; secret: string; allowLinkLocal?: boolean } | undefined;
  eventLeaseSeconds: number;
  maxEventAttempts: number;
  metricsRequireApiKey: boolean;
  /** 0: no limit. */
  rateLimitFailuresPerMinute: number;
  /** Empty: CORS off. */
  corsOrigins: string[];
  /** Proxies believed about the client address: false, true, a hop count, or addresses/CIDRs. */
  trustProxy: boolean | number | string[];
}

export interface ServeTokenConfig {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshGraceSeconds: number;
  denylist: boolean;
  /** From SESSIONKEEPER_KEY_ENCRYPTION_SECRET only (never a flag); undefined when unset. */
  keyEncryptionSecret: string | undefined;
}

export interface Setting<T> {
  /**
   * Flag name without the dashes; the environment variable is SESSIONKEEPER_ + its upper snake
   * case. With `envOnly`, only the name of the variable: there is no such flag.
   */
  flag: string;
  /** Read from the environment only: a secret given as a flag would show in `ps`. */
  envOnly?: boolean;
  defaultText?: string;
  /** Completes "expected …" in the error message. */
  expected: string;
  help: string;
  /** Never echo the value in messages. */
  secret?: boolean;
  /** The value as messages may show it. */
  shown?(raw: string): string;
  /** The flag may be repeated; its values (and a comma-separated variable) form one list. */
  multiple?: boolean;
  /** The value, or null for a generic "expected …" message; a ValidationError's detail is shown instead. */
  parse(raw: string): T | null;
}

const positiveInteger = (raw: string) =>
  /^\d{1,15}$/.test(raw) && Number(raw) >= 1 ? Number(raw) : null;
const duration = (raw: string) => parseDuration(raw);
const booleanText = (raw: string) => (raw === 'true' ? true : raw === 'false' ? false : null);
const wholeNumber = (raw: string) => (/^\d{1,9}$/.test(raw) ? Number(raw) : null);
const list = (raw: string) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
/** Shortest webhook secret accepted: an HMAC key should not be guessable. */
const MIN_WEBHOOK_SECRET_LENGTH = 16;
/** At least what the engine's AES-256-GCM key derivation asks for. */
const MIN_KEY_ENCRYPTION_SECRET_LENGTH = 32;

export const SETTINGS = {
  host: {
    flag: 'host',
    defaultText: '127.0.0.1',
    expected: 'a host name or IP address to listen on',
    help: 'Address to listen on; 0.0.0.0 for every interface.',
    parse: (raw: string) => (/^[A-Za-z0-9.:[\]-]{1,253}$/.test(raw) ? raw : null),
  },
  port: {
    flag: 'port',
    defaultText: '8080',
    expected: 'a port number from 0 to 65535 (0 picks a free one)',
    help: 'TCP port; 0 picks a free port (the start-up log line shows it).',
    parse: (raw: string) => (/^\d{1,5}$/.test(raw) && Number(raw) <= 65535 ? Number(raw) : null),
  },
  store: {
    flag: 'store',
    defaultText: DEFAULT_STORE_URL,
    expected:
      'sqlite:<path>, postgres://…, redis://…, rediss://…, redis+cluster://host:port,host:port, redis+sentinel://…/master or memory:',
    help: 'Where sessions live: sqlite:<path>, postgres://[user[:password]@]host[:port]/database[?sslmode=disable|require|verify-full] (or postgresql://), redis://[user:password@]host:port[/db], rediss://… (TLS), redis+cluster://host:port,host:port, redis+sentinel://host:port,host:port/master, or memory: (lost on restart; tests only).',
    shown: (raw: string) => raw.replace(/\/\/[^@/]*@/, '//***@'),
    parse: parseStoreUrl,
  },
  idleTimeout: {
    flag: 'idle-timeout',
    defaultText: '30m',
    expected: 'a duration such as 90s, 30m or 24h',
    help: 'A session ends after this long without activity.',
    parse: duration,
  },
  absoluteTimeout: {
    flag: 'absolute-timeout',
    defaultText: '24h',
    expected: 'a duration such as 90s, 30m or 24h',
    help: 'A session ends this long after it was created, whatever its activity.',
    parse: duration,
  },
  maxSessionsPerSubject: {
    flag: 'max-sessions-per-subject',
    expected: 'a whole number of at least 1',
    help: 'Most active sessions one subject may hold; the least recently active is evicted for a new one. Default: no limit.',
    parse: positiveInteger,
  },
  maxSessions: {
    flag: 'max-sessions',
    expected: 'a whole number of at least 1',
    help: 'Most active sessions in the whole store, evicting as above. Default: no limit.',
    parse: positiveInteger,
  },
  apiKey: {
    flag: 'api-key',
    expected: 'a non-empty key',
    help: 'Key backend calls send as Authorization: Bearer <key>. Prefer the environment variable (flags show in ps). Default: generated on first start, printed once, and only its SHA-256 kept in the data directory.',
    secret: true,
    parse: (raw: string) => (raw.length > 0 ? raw : null),
  },
  logLevel: {
    flag: 'log-level',
    defaultText: 'info',
    expected: LOG_LEVELS.join(', '),
    help: 'Least severe log level written (JSON lines on stdout).',
    parse: (raw: string) => LOG_LEVELS.find((level) => level === raw) ?? null,
  },
  accessTokenTtl: {
    flag: 'access-token-ttl',
    defaultText: '15m',
    expected: 'a duration such as 90s, 15m or 1h',
    help: "Lifetime of an access token (a signed JWT), never past its session's absolute deadline. Other services verify it without calling this one, so after a revocation it keeps working there until it expires: keep it short. Verifiers accept a token for a clock tolerance past its expiry (30 s by default), capped at a tenth of its lifetime, so a 3s token is accepted for at most 0.3 s more.",
    parse: duration,
  },
  refreshGrace: {
    flag: 'refresh-grace',
    defaultText: '15s',
    expected: 'a duration such as 15s or 1m',
    help: "A spent refresh token presented again gets the same new pair for as long as that pair's refresh token is unused, whatever the time (a client whose answer was lost retries safely). Once the new token was used, the old one still gets the current pair for this long after that rotation (two tabs racing); later, it revokes the session as stolen.",
    parse: duration,
  },
  tokenIssuer: {
    flag: 'token-issuer',
    defaultText: 'sessionkeeper',
    expected: 'a non-empty name',
    help: 'The iss claim of access tokens; verifiers must expect the same.',
    parse: (raw: string) => checkSubject(raw, 'tokenIssuer'),
  },
  tokenAudience: {
    flag: 'token-audience',
    defaultText: 'sessionkeeper',
    expected: 'a non-empty name',
    help: 'The aud claim of access tokens; verifiers must expect the same.',
    parse: (raw: string) => checkSubject(raw, 'tokenAudience'),
  },
  tokenDenylist: {
    flag: 'token-denylist',
    defaultText: 'false',
    expected: 'true or false',
    help: "true: access-token checks this service makes itself also read the session (one store round trip), refusing tokens of revoked or expired sessions at once. Services verifying with the JWKS are not affected: they see a revocation only at the access token's expiry.",
    parse: booleanText,
  },
  keyEncryptionSecret: {
    flag: 'key-encryption-secret',
    envOnly: true,
    expected: `a secret of at least ${MIN_KEY_ENCRYPTION_SECRET_LENGTH} characters`,
    help: `Encrypts the access-token signing keys kept in the store (at least ${MIN_KEY_ENCRYPTION_SECRET_LENGTH} characters; environment or config file, never a flag). Once set, every later start needs the same secret. Default: keys are stored unencrypted.`,
    secret: true,
    parse: (raw: string) => (raw.length >= MIN_KEY_ENCRYPTION_SECRET_LENGTH ? raw : null),
  },
  webhook: {
    flag: 'webhook',
    multiple: true,
    expected: 'http:// or https:// URLs (repeat the flag, or separate them with commas)',
    help: 'POST every session event, signed, to this URL (repeatable; comma-separated in the variable). Needs a webhook secret. See docs/webhooks.md.',
    shown: (raw: string) => list(raw).map(shownUrl).join(','),
    parse: (raw: string) => {
      const urls = list(raw);
      return urls.length > 0 && urls.every(isWebhookUrl) ? urls : null;
    },
  },
  webhookSecret: {
    flag: 'webhook-secret',
    expected: `a secret of at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`,
    help: `Key of the HMAC-SHA256 signature of webhook requests (at least ${MIN_WEBHOOK_SECRET_LENGTH} characters); required with --webhook. Prefer the environment variable (flags show in ps).`,
    secret: true,
    parse: (raw: string) => (raw.length >= MIN_WEBHOOK_SECRET_LENGTH ? raw : null),
  },
  webhookAllowLinkLocal: {
    flag: 'webhook-allow-link-local',
    defaultText: 'false',
    expected: 'true or false',
    help: 'true: webhooks may go to link-local addresses (169.254.0.0/16, fe80::/10), where clouds serve instance metadata and credentials. Default: such URLs are refused at start-up and when a host name resolves to one.',
    parse: booleanText,
  },
  eventLease: {
    flag: 'event-lease',
    defaultText: '30s',
    expected: 'a duration such as 30s or 2m',
    help: "An event whose delivery did not finish (the process died mid-way) is delivered again after this long; failed deliveries are retried on each receiver's schedule (1 s doubling up to 5 min).",
    parse: duration,
  },
  maxEventAttempts: {
    flag: 'max-event-attempts',
    defaultText: '10',
    expected: 'a whole number of at least 1',
    help: 'Attempts per webhook receiver before an event is dropped for it with an error log; 10 covers about 8.5 minutes of receiver outage.',
    parse: positiveInteger,
  },
  rateLimitFailures: {
    flag: 'rate-limit-failures',
    defaultText: '30',
    expected: 'a whole number (0 disables the limit)',
    help: 'Failed session validations and refreshes allowed per client address per minute; past it, 429 rate-limited. Successes do not count. 0 disables.',
    parse: wholeNumber,
  },
  trustProxy: {
    flag: 'trust-proxy',
    defaultText: 'false',
    expected: 'true, false, a hop count, or proxy addresses / CIDR ranges separated by commas',
    help: "Behind a reverse proxy or load balancer: which proxies to believe about the client address (X-Forwarded-For), which the failure rate limit counts by. A list of the proxies' addresses or CIDR ranges (e.g. 10.0.0.0/8,127.0.0.1; also loopback, linklocal, uniquelocal) is the safe choice; a hop count (1 = one proxy) or true (believe every hop) only when clients cannot reach the service except through the proxy. Default false: the TCP peer is the client.",
    parse: (raw: string) => parseTrustProxy(raw, 'trustProxy'),
  },
  corsOrigin: {
    flag: 'cors-origin',
    multiple: true,
    expected:
      'origins such as https://app.example.com (repeat the flag, or separate them with commas)',
    help: 'Origin allowed to call the API from a browser (repeatable; comma-separated in the variable). Default: none, CORS is off.',
    parse: (raw: string) => {
      const origins = list(raw);
      return origins.length > 0 && origins.every(isOrigin) ? origins : null;
    },
  },
  metricsAuth: {
    flag: 'metrics-auth',
    defaultText: 'false',
    expected: 'true or false',
    help: 'true: GET /metrics asks for the API key like the backend calls. Default: unauthenticated (keep the port private).',
    parse: booleanText,
  },
  redisKeyPrefix: {
    flag: 'redis-key-prefix',
    expected: 'up to 64 characters of A-Z, a-z, 0-9, :, _, . and -',
    help: 'Starts every Redis key, so several deployments can share one Redis (Redis stores only). Default: sk:',
    parse: (raw: string) => validateKeyPrefix(raw),
  },
  postgresSchema: {
    flag: 'postgres-schema',
    expected: 'a schema name: a letter or _, then up to 62 of A-Z, a-z, 0-9 and _',
    help: 'The schema holding the tables, created and migrated at start, so several deployments can share one database (PostgreSQL stores only). Default: sessionkeeper',
    parse: (raw: string) => checkSchemaName(raw),
  },
} as const satisfies Record<string, Setting<unknown>>;

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
  } catch {
    return false;
  }
}

export function envName(flag: string): string {
  return `SESSIONKEEPER_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export type ServeArgs = { help: true } | { help: false; config: ServeConfig };

/** The flag (and SESSIONKEEPER_CONFIG) naming the JSON config file; it has no default. */
export const CONFIG_FLAG = 'config';

/**
 * Reads `serve`'s arguments, environment and config file (`--config`). Throws `ConfigError` naming
 * the first bad setting.
 */
export function parseServeArgs(args: readonly string[], env: NodeJS.ProcessEnv): ServeArgs {
  const flags = readFlags(args);
  if (flags.help === true) return { help: true };
  const file = readConfigFileOf(flags, env);
  function resolve<T>(setting: Setting<T>): Resolved<T> | undefined {
    const fromFlag = setting.envOnly ? undefined : flags[setting.flag];
    const fromEnv = env[envName(setting.flag)];
    const key = fileKey(setting.flag);
    const fromFile = file?.values.get(key);
    const [raw, source] =
      typeof fromFlag === 'string'
        ? [fromFlag, `--${setting.flag}`]
        : fromEnv !== undefined && fromEnv !== ''
          ? [fromEnv, envName(setting.flag)]
          : fromFile !== undefined && file
            ? [fromFile, `"${key}" in ${file.path}`]
            : [setting.defaultText, settingName(setting)];
    if (raw === undefined) return undefined;
    const shown = setting.secret ? '' : ` "${(setting.shown?.(raw) ?? raw).slice(0, 200)}"`;
    let value: T | null;
    try {
      value = setting.parse(raw);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw new ConfigError(
        `invalid ${source}${shown}: ${error.message.slice(error.field.length + 2)}`,
      );
    }
    if (value === null)
      throw new ConfigError(`invalid ${source}${shown}: expected ${setting.expected}`);
    return { value, source, raw };
  }

  const store = required(resolve(SETTINGS.store));
  const keyPrefix = resolve(SETTINGS.redisKeyPrefix);
  const storeSpec: StoreSpec = store.value;
  if (storeSpec.kind === 'redis' && keyPrefix) storeSpec.keyPrefix = keyPrefix.value;
  else if (keyPrefix)
    throw new ConfigError(`${keyPrefix.source} applies only to a Redis store (--store redis://…)`);
  const schema = resolve(SETTINGS.postgresSchema);
  if (storeSpec.kind === 'postgres' && schema) storeSpec.schema = schema.value;
  else if (schema)
    throw new ConfigError(
      `${schema.source} applies only to a PostgreSQL store (--store postgres://…)`,
    );
  const webhookUrls = resolve(SETTINGS.webhook);
  const webhookSecret = resolve(SETTINGS.webhookSecret);
  if (webhookUrls && !webhookSecret) {
    throw new ConfigError(
      `${webhookUrls.source} is set but ${envName(SETTINGS.webhookSecret.flag)} (or --${SETTINGS.webhookSecret.flag}) is not: webhook requests must be signed`,
    );
  }
  const allowLinkLocal = resolve(SETTINGS.webhookAllowLinkLocal)?.value === true;
  const metadataUrl = webhookUrls?.value.find((url) => isLinkLocalHost(new URL(url).hostname));
  if (webhookUrls && metadataUrl && !allowLinkLocal) {
    throw new ConfigError(
      `invalid ${webhookUrls.source} "${shownUrl(metadataUrl)}": a link-local address (cloud metadata) is refused unless --${SETTINGS.webhookAllowLinkLocal.flag} is true`,
    );
  }
  const idle = required(resolve(SETTINGS.idleTimeout));
  const absolute = required(resolve(SETTINGS.absoluteTimeout));
  if (absolute.value < idle.value) {
    throw new ConfigError(
      `invalid ${absolute.source} "${absolute.raw}": must not be shorter than the idle timeout (${idle.raw})`,
    );
  }
  return {
    help: false,
    config: {
      host: required(resolve(SETTINGS.host)).value,
      port: required(resolve(SETTINGS.port)).value,
      storeSpec,
      idleTimeoutSeconds: idle.value,
      absoluteTimeoutSeconds: absolute.value,
      maxSessionsPerSubject: resolve(SETTINGS.maxSessionsPerSubject)?.value,
      maxSessions: resolve(SETTINGS.maxSessions)?.value,
      apiKey: resolve(SETTINGS.apiKey)?.value,
      logLevel: required(resolve(SETTINGS.logLevel)).value,
      tokens: {
        issuer: required(resolve(SETTINGS.tokenIssuer)).value,
        audience: required(resolve(SETTINGS.tokenAudience)).value,
        accessTokenTtlSeconds: required(resolve(SETTINGS.accessTokenTtl)).value,
        refreshGraceSeconds: required(resolve(SETTINGS.refreshGrace)).value,
        denylist: required(resolve(SETTINGS.tokenDenylist)).value,
        keyEncryptionSecret: resolve(SETTINGS.keyEncryptionSecret)?.value,
      },
      webhooks:
        webhookUrls && webhookSecret
          ? {
              urls: webhookUrls.value,
              secret: webhookSecret.value,
              ...(allowLinkLocal ? { allowLinkLocal } : {}),
            }
          : undefined,
      eventLeaseSeconds: required(resolve(SETTINGS.eventLease)).value,
      maxEventAttempts: required(resolve(SETTINGS.maxEventAttempts)).value,
      metricsRequireApiKey: required(resolve(SETTINGS.metricsAuth)).value,
      rateLimitFailuresPerMinute: required(resolve(SETTINGS.rateLimitFailures)).value,
      corsOrigins: resolve(SETTINGS.corsOrigin)?.value ?? [],
      trustProxy: required(resolve(SETTINGS.trustProxy)).value,
    },
  };
}

/** A setting's key in the config file: its flag in camelCase (`max-sessions` → `maxSessions`). */
export function fileKey(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function readConfigFileOf(
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): ConfigFile | undefined {
  const fromFlag = flags[CONFIG_FLAG];
  const fromEnv = env[envName(CONFIG_FLAG)];
  const path = typeof fromFlag === 'string' ? fromFlag : fromEnv !== '' ? fromEnv : undefined;
  if (path === undefined) return undefined;
  return readConfigFile(
    path,
    new Set(Object.values<Setting<unknown>>(SETTINGS).map((setting) => fileKey(setting.flag))),
  );
}

/** How messages and help name a setting: its flag, or its variable when it has no flag. */
export function settingName(setting: Setting<unknown>): string {
  return setting.envOnly ? envName(setting.flag) : `--${setting.flag}`;
}

interface Resolved<T> {
  value: T;
  /** The flag or environment variable it came from, for messages. */
  source: string;
  raw: string;
}

function required<T>(resolved: Resolved<T> | undefined): Resolved<T> {
  if (!resolved) throw new Error('a setting with a default resolved to nothing');
  return resolved;
}

function readFlags(args: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<
    string,
    { type: 'string' | 'boolean'; short?: string; multiple?: boolean }
  > = {
    help: { type: 'boolean', short: 'h' },
    [CONFIG_FLAG]: { type: 'string' },
  };
  const multiple = new Set<string>();
  for (const setting of Object.values<Setting<unknown>>(SETTINGS)) {
    if (setting.envOnly) continue;
    options[setting.flag] = setting.multiple
      ? { type: 'string', multiple: true }
      : { type: 'string' };
    if (setting.multiple) multiple.add(setting.flag);
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) {
      throw new ConfigError(
        `unexpected argument "${positionals[0]}" (see sessionkeeper serve --help)`,
      );
    }
    const flags: Record<string, string | boolean | undefined> = {};
    for (const [name, value] of Object.entries(values)) {
      flags[name] = Array.isArray(value)
        ? multiple.has(name)
          ? value.join(',')
          : value.at(-1)
        : value;
    }
    return flags;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(describeParseError(error));
  }
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  const option = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
    const envOnly = Object.values<Setting<unknown>>(SETTINGS).find(
      (setting) => setting.envOnly && option === `--${setting.flag}`,
    );
    // parseArgs names the option without its value, so the secret is not repeated here.
    if (envOnly)
      return `${option} is not accepted: set ${envName(envOnly.flag)} in the environment instead (a flag shows in ps)`;
    return `unknown option ${option} (see sessionkeeper serve --help)`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    if (message.includes('missing')) return `invalid ${option}: a value is required`;
    if (message.includes('ambiguous'))
      return `invalid ${option}: give a value that starts with - as ${option}=<value>`;
    return `invalid ${option}: ${message.split('\n')[0]}`;
  }
  return message.split('\n')[0] ?? 'invalid arguments';
}
