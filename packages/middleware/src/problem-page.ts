import {
  type ErrorCode,
  type ProblemAction,
  problemRegistry,
} from 'sessionkeeper/internal/problems';

const ACTION_TEXT: Record<ProblemAction, string> = {
  refresh: 'Refresh the access token with the refresh token, then repeat the request.',
  reauthenticate: 'The session cannot be used any more: sign the user in again.',
  retry: 'Nothing is wrong with the request: wait (see Retry-After) and send it again.',
  'fix-request':
    'The request itself is wrong: change it as the detail says before sending it again.',
};

/** The human page behind a problem's `type` URI, generated from the registry entry. */
export function renderProblemPage(code: ErrorCode): string {
  const entry = problemRegistry[code];
  return page(
    `${entry.title} (${entry.slug})`,
    `<h1>${escapeHtml(entry.title)}</h1>
<p class="meta">HTTP ${entry.status} · code <code>${code}</code> · type <code>/problems/${escapeHtml(entry.slug)}</code></p>
<h2>What happened</h2>
<p>${escapeHtml(entry.meaning)}</p>
<h2>What to do</h2>
<p>${escapeHtml(entry.remedy)}</p>
<p><code>action: "${entry.action}"</code> — ${escapeHtml(ACTION_TEXT[entry.action])}</p>
<p><a href="/problems">All problems</a></p>`,
  );
}

/** An index of every problem the service can answer with. */
export function renderProblemIndex(codes: readonly ErrorCode[]): string {
  const rows = codes
    .map((code) => {
      const entry = problemRegistry[code];
      return `<tr><td><a href="/problems/${escapeHtml(entry.slug)}">${escapeHtml(entry.slug)}</a></td><td>${entry.status}</td><td>${entry.action}</td><td>${escapeHtml(entry.meaning)}</td></tr>`;
    })
    .join('\n');
  return page(
    'sessionkeeper problems',
    `<h1>Problems</h1>
<p>Every failure of the sessionkeeper API is an RFC 9457 <code>application/problem+json</code> body whose <code>type</code> links here.</p>
<table><thead><tr><th>slug</th><th>status</th><th>action</th><th>meaning</th></tr></thead>
<tbody>
${rows}
</tbody></table>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}.meta{color:#555}td,th{text-align:left;padding:.2em .6em;vertical-align:top}</style>
</head><body>
${body}
</body></html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
