import type { RegisteredRoute } from './openapi.js';

/**
 * Which methods the registered routes accept on a concrete path, to answer a known path with a
 * wrong method 405 (with `Allow`) rather than 404. Patterns are matched as Fastify's router does:
 * `:param` is one non-empty segment; wildcard routes (CORS preflight) are left out.
 */
export function allowedMethodsOf(routes: readonly RegisteredRoute[]): (path: string) => string[] {
  let patterns: Array<{ method: string; pattern: RegExp }> | undefined;
  return (path) => {
    patterns ??= routes
      .filter((route) => !route.url.includes('*'))
      .map((route) => ({ method: route.method, pattern: patternOf(route.url) }));
    const methods = new Set<string>();
    for (const { method, pattern } of patterns) if (pattern.test(path)) methods.add(method);
    return [...methods].sort();
  };
}

function patternOf(url: string): RegExp {
  const source = url
    .split(/(:[A-Za-z0-9_]+)/)
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}
