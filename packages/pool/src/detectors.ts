import type { Detector, ExpiryVerdict, ObservedResponse } from './kind.js';

/**
 * Phrases an upstream's "you are logged out" page shows, matched case-insensitively in the body
 * text (tags removed, whitespace collapsed). The first two are the appointment site's own words;
 * the rest are the common variants. Keep them specific: a marker that can appear on a logged-in
 * page makes every use of that page look like an expiry.
 */
export const DEFAULT_EXPIRY_MARKERS: readonly string[] = Object.freeze([
  'you are either not logged in or your session has expired',
  'please use your back button',
  'your session has expired',
  'session expired',
  'session has timed out',
  'please log in again',
  'please sign in again',
]);

/** 401 Unauthorized, 403 Forbidden, 419 (Laravel: page expired), 440 (IIS: login time-out). */
export const DEFAULT_EXPIRY_STATUSES: readonly number[] = Object.freeze([401, 403, 419, 440]);

/** The upstream answered with one of `statuses`: verdict `status-<code>`. */
function status(statuses: readonly number[] = DEFAULT_EXPIRY_STATUSES): Detector {
  const set = new Set(statuses);
  return (response) =>
    set.has(response.status) ? { reason: `status-${response.status}` } : undefined;
}

/**
 * The upstream sent the session to its login page: a redirect whose `Location`, or a final URL,
 * matches `pattern`. A string is a path prefix (`'/login'`); a RegExp is tested against the whole
 * absolute URL. Verdict `login-redirect`.
 */
function loginRedirect(pattern: RegExp | string): Detector {
  const matches = (href: string): boolean => {
    if (typeof pattern !== 'string') {
      pattern.lastIndex = 0; // a /g or /y pattern keeps state between tests
      return pattern.test(href);
    }
    try {
      return new URL(href).pathname.startsWith(pattern);
    } catch {
      return href.startsWith(pattern);
    }
  };
  return (response) => {
    const target = response.location ?? response.url;
    if (!matches(target)) return undefined;
    return { reason: 'login-redirect', detail: `sent to ${pathOf(target)}` };
  };
}

/**
 * The body (or a page's visible text) contains one of `markers`, case-insensitively, with tags
 * removed and whitespace collapsed so a phrase split across lines or inline tags still matches.
 * Bodies whose Content-Type is not text (images, PDFs) are not read. Verdict `text-marker`.
 */
function text(markers: readonly string[] = DEFAULT_EXPIRY_MARKERS): Detector {
  const needles = markers.map(normalize).filter((m) => m.length > 0);
  return async (response) => {
    if (!isTextual(response.headers.get('content-type'))) return undefined;
    const haystack = normalize(await response.text());
    const found = needles.find((needle) => haystack.includes(needle));
    return found === undefined ? undefined : { reason: 'text-marker', detail: found };
  };
}

/**
 * The upstream showed its login page where the session expected a logged-in one:
 * - verdict `login-redirect`: a redirect whose `Location`, or a final URL, is where the pool's
 *   own logins sent their credentials (`response.loginUrls`, which the kind records; the query
 *   is ignored, so `/login?reason=timeout` matches a login that posted to `/login`);
 * - verdict `login-form`: an HTML page holding a login form, that is one password field next to
 *   a user name (text or e-mail) field. A change-password form (two or more password fields) or
 *   a re-enter-your-password prompt (no user name field) is not one.
 * It cannot tell a login form that a logged-in page shows on purpose, nor a login page that
 * asks for the user name and the password on two separate pages (the first one has no password
 * field): use `loginRedirect(pattern)` or `text(markers)` for such sites.
 */
function loginPage(): Detector {
  return async (response) => {
    const known = (response.loginUrls ?? []).filter((url) => pathOf(url) !== '/');
    const target = response.location ?? response.url;
    if (known.length > 0 && known.includes(withoutQuery(target)))
      return { reason: 'login-redirect', detail: `sent to ${pathOf(target)}` };
    if (response.location !== undefined || !isHtml(response.headers.get('content-type')))
      return undefined;
    const markup = await (response.html ?? response.text)();
    return hasLoginForm(markup)
      ? { reason: 'login-form', detail: `a login form at ${pathOf(response.url)}` }
      : undefined;
  };
}

/** Whether `markup` has a form (or, without forms, a page) with one password and one user field. */
export function hasLoginForm(markup: string): boolean {
  if (!/type\s*=\s*["']?password/i.test(markup)) return false;
  const forms = markup.match(/<form\b[\s\S]*?<\/form\s*>/gi) ?? [markup];
  return forms.some((form) => {
    let passwords = 0;
    let users = 0;
    for (const input of form.match(/<input\b[^>]*>/gi) ?? []) {
      const type = /\stype\s*=\s*["']?([a-z-]+)/i.exec(input)?.[1]?.toLowerCase() ?? 'text';
      if (type === 'password') passwords++;
      else if (type === 'text' || type === 'email' || type === 'tel') users++;
    }
    return passwords === 1 && users >= 1;
  });
}

/** The app's own test. `true` gives verdict `custom`; a verdict object is used as is. */
function custom(
  predicate: (
    response: ObservedResponse,
  ) => boolean | ExpiryVerdict | undefined | Promise<boolean | ExpiryVerdict | undefined>,
): Detector {
  return async (response) => {
    const result = await predicate(response);
    if (result === true) return { reason: 'custom' };
    return result === false || result === undefined ? undefined : result;
  };
}

/** Factories for the detectors a pool runs on every answer its sessions see. */
export const detectors = { status, loginRedirect, loginPage, text, custom } as const;

/**
 * Used when a pool names no detectors: status codes, then the login page (a redirect to where
 * the pool logs in, or a login form), then body markers.
 */
export function defaultDetectors(): Detector[] {
  return [status(), loginPage(), text()];
}

/** Runs `list` in order; the first verdict wins. A detector that throws counts as no verdict. */
export async function runDetectors(
  list: readonly Detector[],
  response: ObservedResponse,
  onError: (error: unknown) => void,
): Promise<ExpiryVerdict | undefined> {
  for (const detector of list) {
    try {
      const verdict = await detector(response);
      if (verdict) return verdict;
    } catch (error) {
      onError(error);
    }
  }
  return undefined;
}

/** Caches `read()` so several detectors (and the caller) share one read of the body. */
export function readOnce(read: () => Promise<string>): () => Promise<string> {
  let cached: Promise<string> | undefined;
  return () => {
    cached ??= read();
    return cached;
  };
}

function normalize(value: string): string {
  const withoutTags = value.includes('<') ? value.replace(/<[^>]*>/g, ' ') : value;
  return withoutTags.replace(/\s+/g, ' ').trim().toLowerCase();
}

function isHtml(contentType: string | null): boolean {
  return contentType === null || /html/i.test(contentType);
}

function withoutQuery(href: string): string {
  try {
    const url = new URL(href);
    return `${url.origin}${url.pathname}`;
  } catch {
    return href.split(/[?#]/)[0] ?? href;
  }
}

function isTextual(contentType: string | null): boolean {
  if (contentType === null) return true;
  return /text\/|html|json|xml|javascript/i.test(contentType);
}

/** Logs show where the redirect went, not its query string (which may carry a token). */
function pathOf(href: string): string {
  try {
    return new URL(href).pathname;
  } catch {
    return href.split('?')[0] ?? href;
  }
}
