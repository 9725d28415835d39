import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { parse } from 'cookie';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  setCookies: string[];
  json<T = Record<string, unknown>>(): T;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/**
 * One HTTP request with node:http, so every header (Host included, which fetch will not set) is
 * under the test's control; no connection is kept alive.
 */
export function send(url: string, init: RequestInit = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: init.method ?? 'GET',
        headers: { connection: 'close', ...init.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const setCookie = res.headers['set-cookie'];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            setCookies: setCookie ?? [],
            json: <T>() => JSON.parse(text) as T,
          });
        });
      },
    );
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** A minimal cookie jar: fetch and node:http keep no cookies, so the tests carry them by hand. */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  /** Applies a response's Set-Cookie headers (Max-Age=0 deletes). */
  update(result: HttpResult): this {
    for (const header of result.setCookies) {
      const first = header.split(';', 1)[0] ?? '';
      const eq = first.indexOf('=');
      const name = first.slice(0, eq).trim();
      const value = parse(first)[name] ?? '';
      if (/;\s*max-age=0(;|$)/i.test(header) || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  /** The Cookie request header ({} when empty). */
  headers(): Record<string, string> {
    if (this.#cookies.size === 0) return {};
    return {
      cookie: [...this.#cookies]
        .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
        .join('; '),
    };
  }
}

/** The attributes of one Set-Cookie header, names lower-cased (`httponly: ''`). */
export function cookieAttributes(header: string): {
  name: string;
  value: string;
  attributes: Record<string, string>;
} {
  const [first = '', ...rest] = header.split(';');
  const eq = first.indexOf('=');
  const attributes: Record<string, string> = {};
  for (const part of rest) {
    const i = part.indexOf('=');
    const key = (i === -1 ? part : part.slice(0, i)).trim().toLowerCase();
    attributes[key] = i === -1 ? '' : part.slice(i + 1).trim();
  }
  return { name: first.slice(0, eq).trim(), value: first.slice(eq + 1).trim(), attributes };
}
