import { ValidationError } from 'sessionkeeper/internal/errors';

export interface RedisAddress {
  host: string;
  port: number;
}

/** A store URL taken apart. `location` is the URL without any secret, for logs and errors. */
export interface RedisUrl {
  mode: 'standalone' | 'sentinel' | 'cluster';
  tls: boolean;
  nodes: RedisAddress[];
  username: string | undefined;
  password: string | undefined;
  db: number;
  /** Sentinel only: the monitored master's name. */
  masterName: string | undefined;
  sentinelUsername: string | undefined;
  sentinelPassword: string | undefined;
  location: string;
}

const URL_PATTERN =
  /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/;

const FORMS =
  'redis://[[user]:password@]host[:port][/db], rediss://… (TLS), ' +
  'redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/masterName[/db], ' +
  'redis+cluster://[[user]:password@]host[:port][,host[:port]…] (rediss+… for TLS)';

function fail(detail: string): never {
  throw new ValidationError('url', `${detail}; expected ${FORMS}`);
}

function parseAddress(text: string, defaultPort: number): RedisAddress {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (!match?.[1]) fail(`"${text}" is not a host[:port]`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (port < 1 || port > 65535) fail(`port ${port} is out of range`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

function parseDb(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,2}$/.test(text)) fail(`database "${text}" is not a number`);
  return Number(text);
}

/**
 * Accepted forms (`rediss` instead of `redis` turns on TLS, for the sentinels too):
 * - `redis://[[user]:password@]host[:port][/db]` — one server (port 6379 by default)
 * - `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/masterName[/db]` — Sentinel:
 *   the hosts are sentinels (port 26379 by default); user and password are the master's; the
 *   sentinels' own credentials go in `?sentinelUsername=…&sentinelPassword=…`
 * - `redis+cluster://[[user]:password@]host[:port][,host[:port]…]` — Cluster seed nodes
 */
export function parseRedisUrl(url: string): RedisUrl {
  const match = URL_PATTERN.exec(url);
  if (!match) fail('not a Redis URL');
  const [, scheme = 'redis', variant, userinfo, hostList = '', path = '', query] = match;
  const mode =
    variant === 'sentinel' ? 'sentinel' : variant === 'cluster' ? 'cluster' : 'standalone';
  const defaultPort = mode === 'sentinel' ? 26379 : 6379;
  const nodes = hostList === '' ? [] : hostList.split(',').map((h) => parseAddress(h, defaultPort));
  if (nodes.length === 0) fail('no host');
  if (mode === 'standalone' && nodes.length > 1)
    fail('several hosts need redis+sentinel:// or redis+cluster://');

  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon)) || undefined;
    password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  }

  const segments = path.split('/').filter((segment) => segment !== '');
  let db = 0;
  let masterName: string | undefined;
  if (mode === 'sentinel') {
    masterName = segments[0] === undefined ? undefined : decodeURIComponent(segments[0]);
    if (!masterName) fail('a Sentinel URL needs the master name as its path');
    db = parseDb(segments[1]);
    if (segments.length > 2) fail(`unexpected path ${path}`);
  } else if (mode === 'cluster') {
    if (segments.length > 0) fail('a Cluster has no database path');
  } else {
    db = parseDb(segments[0]);
    if (segments.length > 1) fail(`unexpected path ${path}`);
  }

  const params = new URLSearchParams(query ?? '');
  for (const name of params.keys()) {
    if (mode !== 'sentinel' || (name !== 'sentinelUsername' && name !== 'sentinelPassword')) {
      fail(`unknown parameter "${name}"`);
    }
  }

  const hosts = nodes
    .map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`)
    .join(',');
  const account = username === undefined ? '' : `${encodeURIComponent(username)}@`;
  const suffix = mode === 'sentinel' ? `/${masterName}${db ? `/${db}` : ''}` : db ? `/${db}` : '';
  return {
    mode,
    tls: scheme === 'rediss',
    nodes,
    username,
    password,
    db,
    masterName,
    sentinelUsername: params.get('sentinelUsername') ?? undefined,
    sentinelPassword: params.get('sentinelPassword') ?? undefined,
    location: `${scheme}${variant ? `+${variant}` : ''}://${account}${hosts}${suffix}`,
  };
}
