import type { FastifyRequest } from 'fastify';

const MAX_SHOWN = 1024;

/** The path of a request without its query string, cut to a length that is safe to echo. */
export function requestPath(request: Pick<FastifyRequest, 'url'>): string {
  const url = request.url;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > MAX_SHOWN ? `${path.slice(0, MAX_SHOWN)}…` : path;
}
