import { problemRegistry } from 'sessionkeeper/internal/problems';
import * as z from 'zod/v4';
import {
  createSessionBody,
  leaseBody,
  leaseIdParams,
  listQuery,
  refreshBody,
  revokeQuery,
  sessionIdParams,
  slugParams,
  subjectParams,
  updateSessionBody,
} from './request-schemas.js';

type Auth = 'apiKey' | 'sessionToken' | 'none' | 'refreshToken';

interface RouteDoc {
  summary: string;
  auth: Auth;
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  /** Status → description of the answer. */
  ok: Record<number, string>;
  /** Problem slugs this route may answer with beside the ones every route can. */
  problems?: string[];
  /** Media type of the successful answer. Default application/json. */
  produces?: string;
}

const SESSION_FAILURES = [
  'session-expired',
  'session-lifetime-exceeded',
  'session-revoked',
  'session-not-found',
  'invalid-token',
  'rate-limited',
];

/** What each route does, keyed by `METHOD /path` as registered. */
export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  'POST /v1/sessions': {
    summary: 'Create a session with its session token and token pair',
    auth: 'apiKey',
    body: createSessionBody,
    ok: { 201: '{session, token, tokenType, accessToken, refreshToken, …ExpiresAt, …ExpiresIn}' },
    problems: ['session-limit-reached', 'payload-too-large'],
  },
  'GET /v1/sessions': {
    summary: "List a subject's active sessions, a page at a time",
    auth: 'apiKey',
    query: listQuery,
    ok: { 200: '{sessions, nextCursor}' },
  },
  'GET /v1/sessions/:id': {
    summary: 'Read one session and how long it has left',
    auth: 'apiKey',
    params: sessionIdParams,
    ok: { 200: '{session, age, idleRemaining, absoluteRemaining}' },
  },
  'PATCH /v1/sessions/:id': {
    summary: "Replace an active session's data",
    auth: 'apiKey',
    params: sessionIdParams,
    body: updateSessionBody,
    ok: { 200: '{session}' },
    problems: ['payload-too-large'],
  },
  'DELETE /v1/sessions/:id': {
    summary: 'Revoke one session (idempotent)',
    auth: 'apiKey',
    params: sessionIdParams,
    query: revokeQuery,
    ok: { 204: 'Revoked, or had already ended' },
  },
  'DELETE /v1/subjects/:subject/sessions': {
    summary: "Revoke all of a subject's sessions",
    auth: 'apiKey',
    params: subjectParams,
    query: revokeQuery,
    ok: { 200: '{revoked}: how many were revoked' },
  },
  'GET /v1/stats': {
    summary: 'Active session count',
    auth: 'apiKey',
    ok: { 200: '{active}' },
  },
  'POST /v1/session/validate': {
    summary: 'Check a session token and record the activity',
    auth: 'sessionToken',
    ok: { 200: '{valid: true, session, age, idleRemaining, absoluteRemaining}' },
    problems: SESSION_FAILURES,
  },
  'GET /v1/session': {
    summary: 'Read the session (a use: extends the idle deadline)',
    auth: 'sessionToken',
    ok: { 200: '{session, age, idleRemaining, absoluteRemaining}' },
    problems: SESSION_FAILURES,
  },
  'POST /v1/session/renew': {
    summary: 'Keep the session alive (always writes the activity)',
    auth: 'sessionToken',
    ok: { 200: '{session, age, idleRemaining, absoluteRemaining}' },
    problems: SESSION_FAILURES,
  },
  'DELETE /v1/session': {
    summary: 'Log out (succeeds for a session that already ended)',
    auth: 'sessionToken',
    ok: { 204: 'Logged out' },
    problems: ['session-not-found', 'invalid-token', 'rate-limited'],
  },
  'POST /v1/session/refresh': {
    summary: 'Exchange the refresh token for a new token pair (rotation)',
    auth: 'refreshToken',
    body: refreshBody,
    ok: { 200: '{session, tokenType, accessToken, refreshToken, …ExpiresAt, …ExpiresIn}' },
    problems: [...SESSION_FAILURES, 'refresh-token-reused'],
  },
  'POST /v1/session/leases': {
    summary: 'Hold the session alive while an operation runs',
    auth: 'sessionToken',
    body: leaseBody,
    ok: { 201: '{leaseId, expiresAt, expiresIn}' },
    problems: SESSION_FAILURES,
  },
  'DELETE /v1/session/leases/:leaseId': {
    summary: 'Release a lease',
    auth: 'sessionToken',
    params: leaseIdParams,
    ok: { 204: 'Released' },
    problems: SESSION_FAILURES,
  },
  'GET /healthz': {
    summary: 'Liveness: the process answers',
    auth: 'none',
    ok: { 200: '{status}' },
  },
  'GET /readyz': {
    summary: 'Readiness: the store answers',
    auth: 'none',
    ok: { 200: '{status: "ready"}' },
    problems: ['store-unavailable'],
  },
  'GET /.well-known/jwks.json': {
    summary: 'Public keys that verify access tokens (JWKS)',
    auth: 'none',
    ok: { 200: '{keys: [JWK]}' },
  },
  'GET /problems': {
    summary: 'Index of problem types',
    auth: 'none',
    ok: { 200: 'HTML page' },
    produces: 'text/html',
  },
  'GET /problems/:slug': {
    summary: 'Human page of one problem type (the target of `type` URIs)',
    auth: 'none',
    params: slugParams,
    ok: { 200: 'HTML page' },
    produces: 'text/html',
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (API key only when configured so)',
    auth: 'none',
    ok: { 200: 'Prometheus text exposition format' },
    produces: 'text/plain',
  },
  'GET /openapi.json': {
    summary: 'This OpenAPI document',
    auth: 'none',
    ok: { 200: 'OpenAPI 3.1 document' },
  },
  'GET /docs': {
    summary: 'Human API reference rendered from the OpenAPI document',
    auth: 'none',
    ok: { 200: 'HTML page' },
    produces: 'text/html',
  },
};

export interface RegisteredRoute {
  method: string;
  url: string;
}

/** Whether a registered route belongs in the document (not HEAD/OPTIONS added by Fastify or CORS). */
export function documentedMethod(method: string): boolean {
  return method !== 'HEAD' && method !== 'OPTIONS';
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const json = jsonSchema(schema) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json)',
  required: ['type', 'title', 'status', 'detail', 'code', 'action', 'requestId', 'timestamp'],
  properties: {
    type: { type: 'string', description: '/problems/<slug>: a human page about this failure' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong, specifically' },
    instance: { type: 'string' },
    code: { type: 'string', enum: Object.keys(problemRegistry) },
    action: { type: 'string', enum: ['refresh', 'reauthenticate', 'retry', 'fix-request'] },
    requestId: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
  },
} as const;

const bySlug = new Map<string, { status: number; title: string; meaning: string }>(
  Object.values(problemRegistry).map((definition) => [definition.slug, definition]),
);

/** Problems answered by routes of each kind beside their own list. */
function commonProblems(doc: RouteDoc): string[] {
  const slugs = ['internal-error'];
  if (doc.auth === 'apiKey' || doc.auth === 'sessionToken') slugs.push('unauthorized');
  if (doc.auth !== 'none') slugs.push('store-unavailable');
  if (doc.body || doc.query || doc.params) slugs.push('validation-failed');
  if (doc.params) slugs.push('not-found');
  if (doc.body) slugs.push('unsupported-media-type', 'payload-too-large');
  return slugs;
}

function responses(doc: RouteDoc): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, description] of Object.entries(doc.ok)) {
    out[status] =
      status === '204'
        ? { description }
        : {
            description,
            content: { [doc.produces ?? 'application/json']: { schema: {} } },
          };
  }
  const byStatus = new Map<number, string[]>();
  for (const slug of new Set([...(doc.problems ?? []), ...commonProblems(doc)])) {
    const definition = bySlug.get(slug);
    if (!definition) continue;
    const list = byStatus.get(definition.status) ?? [];
    list.push(`\`${slug}\`: ${definition.meaning}`);
    byStatus.set(definition.status, list);
  }
  for (const [status, lines] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: lines.join('\n'),
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  return out;
}

const SECURITY: Record<Auth, unknown[] | undefined> = {
  apiKey: [{ apiKey: [] }],
  sessionToken: [{ sessionToken: [] }, { sessionCookie: [] }],
  refreshToken: [],
  none: [],
};

/** The OpenAPI 3.1 document of the routes registered on the app. */
export function buildOpenApi(routes: readonly RegisteredRoute[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (!documentedMethod(route.method)) continue;
    const doc = ROUTE_DOCS[`${route.method} ${route.url}`];
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const operation: Record<string, unknown> = doc
      ? {
          summary: doc.summary,
          security: SECURITY[doc.auth],
          parameters: [...parameters(doc.params, 'path'), ...parameters(doc.query, 'query')],
          ...(doc.body
            ? {
                requestBody: {
                  required: true,
                  content: { 'application/json': { schema: jsonSchema(doc.body) } },
                },
              }
            : {}),
          responses: responses(doc),
        }
      : { summary: 'Undocumented', responses: { default: { description: 'Undocumented' } } };
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'sessionkeeper HTTP API',
      version,
      description:
        'Durable sessions as a service. Every failure is an RFC 9457 problem (application/problem+json).',
    },
    paths,
    components: {
      schemas: { Problem: PROBLEM_SCHEMA },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'The API key (backend calls)' },
        sessionToken: { type: 'http', scheme: 'bearer', description: 'The session token (sks_…)' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'sk_session' },
      },
    },
  };
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

interface OperationView {
  summary?: string;
  security?: Record<string, unknown>[];
  parameters?: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses?: Record<string, { description: string }>;
}

/** A self-contained HTML page (no scripts, no CDN) listing every route of the document. */
export function renderDocsPage(document: unknown): string {
  const doc = document as {
    info: { title: string; version: string };
    paths: Record<string, Record<string, OperationView>>;
  };
  const sections: string[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const auth =
        (op.security ?? []).flatMap((entry) => Object.keys(entry)).join(' or ') || 'none';
      const params = (op.parameters ?? [])
        .map(
          (p) =>
            `<li><code>${escapeHtml(p.name)}</code> (${p.in}${p.required ? ', required' : ''}): <code>${escapeHtml(JSON.stringify(p.schema))}</code></li>`,
        )
        .join('');
      const body = op.requestBody?.content['application/json']?.schema;
      const answers = Object.entries(op.responses ?? {})
        .map(
          ([status, r]) =>
            `<tr><td>${escapeHtml(status)}</td><td>${escapeHtml(r.description).replace(/\n/g, '<br>')}</td></tr>`,
        )
        .join('');
      sections.push(
        `<section id="${escapeHtml(`${method}-${path}`)}"><h2><span class="m">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>` +
          `<p>${escapeHtml(op.summary ?? '')}</p><p>Credentials: ${escapeHtml(auth)}</p>` +
          (params ? `<h3>Parameters</h3><ul>${params}</ul>` : '') +
          (body
            ? `<h3>JSON body</h3><pre>${escapeHtml(JSON.stringify(body, null, 2))}</pre>`
            : '') +
          `<h3>Answers</h3><table>${answers}</table></section>`,
      );
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.info.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}
section{border-top:1px solid #ccc;padding:.5rem 0}.m{font-family:monospace;background:#eef;padding:0 .3rem}
pre{background:#f6f6f6;padding:.5rem;overflow:auto}td{vertical-align:top;padding:.2rem .5rem}</style></head>
<body><h1>${escapeHtml(doc.info.title)} ${escapeHtml(doc.info.version)}</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Failures: <a href="/problems">problem types</a>.</p>
${sections.join('\n')}
</body></html>
`;
}
