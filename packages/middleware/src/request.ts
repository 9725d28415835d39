import type { IncomingHttpHeaders } from 'node:http';
import type { Session } from 'sessionkeeper/internal/types';

/** What the framework-neutral core needs to know about a request; each adapter provides it. */
export interface RequestLike {
  readonly method: string;
  /** The request target as received (path and query); only its path is ever echoed. */
  readonly url: string;
  /** A request header by lower-case name; the first value when repeated. */
  header(name: string): string | undefined;
  /**
   * True when the framework sees the request as https: TLS on this connection, or its own
   * trusted-proxy setting (Express `req.secure`, Fastify `request.protocol`, the URL in Hono).
   */
  readonly https: boolean;
}

/** How the core changes the response of the current request. */
export interface ResponseLike {
  /** Adds a `Set-Cookie` header (a later one for the same cookie name wins in the browser). */
  appendSetCookie(header: string): void;
  /** False once the headers are on the wire; cookie changes are then skipped. */
  readonly headersOpen: boolean;
  /** Told when login or logout changes the request's session (Hono mirrors it in `c.get('session')`). */
  sessionChanged?(session: Session | null): void;
}

/** `RequestLike.header` over Node's parsed headers (Express, Fastify): the first value of a repeat. */
export function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
