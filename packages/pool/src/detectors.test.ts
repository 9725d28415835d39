import { describe, expect, it } from 'vitest';
import { DEFAULT_EXPIRY_MARKERS, detectors, runDetectors } from './detectors.js';
import type { ObservedResponse } from './kind.js';

function answer(
  init: Partial<Omit<ObservedResponse, 'text' | 'headers'>> & {
    body?: string;
    contentType?: string | null;
  } = {},
): ObservedResponse & { reads: () => number } {
  let reads = 0;
  const headers = new Headers();
  if (init.contentType !== null) headers.set('content-type', init.contentType ?? 'text/html');
  return {
    status: init.status ?? 200,
    url: init.url ?? 'https://upstream.example/account',
    location: init.location,
    loginUrls: init.loginUrls,
    headers,
    text: async () => {
      reads++;
      return init.body ?? '<p>Welcome back</p>';
    },
    reads: () => reads,
  };
}

describe('detectors.status', () => {
  it('fires on 401, 403, 419 and 440 by default, not on 200, 404 or 500', async () => {
    const detect = detectors.status();
    for (const status of [401, 403, 419, 440]) {
      expect(await detect(answer({ status }))).toEqual({ reason: `status-${status}` });
    }
    for (const status of [200, 302, 404, 500])
      expect(await detect(answer({ status }))).toBeUndefined();
  });

  it('takes its own list', async () => {
    expect(await detectors.status([418])(answer({ status: 418 }))).toEqual({
      reason: 'status-418',
    });
    expect(await detectors.status([418])(answer({ status: 401 }))).toBeUndefined();
  });
});

describe('detectors.loginRedirect', () => {
  it('fires on a redirect whose Location is the login page (a string is a path prefix)', async () => {
    const detect = detectors.loginRedirect('/login');
    expect(
      await detect(answer({ status: 302, location: 'https://upstream.example/login?next=%2Fx' })),
    ).toEqual({ reason: 'login-redirect', detail: 'sent to /login' });
    expect(
      await detect(
        answer({ status: 302, location: 'https://upstream.example/appointments/login' }),
      ),
    ).toBeUndefined();
  });

  it('fires on a final URL that is the login page (a browser followed the redirect)', async () => {
    const detect = detectors.loginRedirect(/\/(sign-?in|login)\b/);
    expect(await detect(answer({ url: 'https://upstream.example/signin?token=abc' }))).toEqual({
      reason: 'login-redirect',
      detail: 'sent to /signin', // no query string: it may carry a token
    });
    expect(await detect(answer({ url: 'https://upstream.example/account' }))).toBeUndefined();
  });

  it('gives the same answer twice with a global RegExp', async () => {
    const detect = detectors.loginRedirect(/login/g);
    const page = answer({ url: 'https://upstream.example/login' });
    expect(await detect(page)).toBeDefined();
    expect(await detect(page)).toBeDefined();
  });
});

describe('detectors.text', () => {
  it("matches the appointment site's phrases case-insensitively, across tags and line breaks", async () => {
    const detect = detectors.text();
    expect(
      await detect(
        answer({
          body: '<p>You are <b>either</b> not logged in\n   or your SESSION has expired.</p>',
        }),
      ),
    ).toEqual({
      reason: 'text-marker',
      detail: 'you are either not logged in or your session has expired',
    });
    expect(
      await detect(answer({ body: 'Error. Please use your back button and try again.' })),
    ).toMatchObject({ detail: 'please use your back button' });
    expect(await detect(answer({ body: '<h1>Your session has expired</h1>' }))).toMatchObject({
      detail: 'your session has expired',
    });
  });

  it('does not fire on a logged-in page, and does not read non-text bodies', async () => {
    const detect = detectors.text();
    expect(
      await detect(answer({ body: '<p>Signed in as ada. Your appointments:</p>' })),
    ).toBeUndefined();
    const image = answer({ contentType: 'image/png', body: 'session expired' });
    expect(await detect(image)).toBeUndefined();
    expect(image.reads()).toBe(0);
  });

  it('includes the documented defaults, and takes an extended list', async () => {
    expect(DEFAULT_EXPIRY_MARKERS).toContain(
      'you are either not logged in or your session has expired',
    );
    expect(DEFAULT_EXPIRY_MARKERS).toContain('please use your back button');
    expect(DEFAULT_EXPIRY_MARKERS).toContain('your session has expired');
    const detect = detectors.text([...DEFAULT_EXPIRY_MARKERS, 'Bitte melden Sie sich erneut an']);
    expect(await detect(answer({ body: 'bitte melden sie sich erneut an' }))).toMatchObject({
      reason: 'text-marker',
    });
  });
});

describe('detectors.loginPage (a default)', () => {
  const LOGIN = 'https://upstream.example/login';
  const loginForm =
    '<h1>Log in</h1><form method="post" action="/login"><input type="hidden" name="next" value="/x"><label>Username <input name="username"></label><label>Password <input name="password" type="password"></label><button>Log in</button></form>';

  it('fires on a redirect to where the pool logs in, whatever the query (`/login?reason=timeout`)', async () => {
    const detect = detectors.loginPage();
    const hop = answer({
      status: 302,
      url: 'https://upstream.example/appointments',
      location: `${LOGIN}?reason=timeout`,
      loginUrls: [LOGIN],
    });
    expect(await detect(hop)).toEqual({ reason: 'login-redirect', detail: 'sent to /login' });
    // The redirect hop's body is not read: the verdict comes from its Location.
    expect(hop.reads()).toBe(0);
    // A final URL there (a browser followed the redirect) too.
    expect(
      await detect(
        answer({ url: `${LOGIN}?reason=timeout`, body: '<p>x</p>', loginUrls: [LOGIN] }),
      ),
    ).toMatchObject({ reason: 'login-redirect' });
    // Elsewhere on the site, and a login that posted to the home page (too common to judge by).
    for (const location of [
      'https://upstream.example/appointments/login',
      'https://upstream.example/',
    ])
      expect(
        await detect(
          answer({ status: 302, location, loginUrls: [LOGIN, 'https://upstream.example/'] }),
        ),
      ).toBeUndefined();
  });

  it('fires on a page holding a login form (one password field next to a user name field)', async () => {
    const detect = detectors.loginPage();
    expect(await detect(answer({ body: loginForm, url: `${LOGIN}?reason=timeout` }))).toEqual({
      reason: 'login-form',
      detail: 'a login form at /login',
    });
    // An e-mail field and single-quoted or unquoted attributes count the same.
    expect(
      await detect(
        answer({ body: "<form><input type='email' name=email><input type=password></form>" }),
      ),
    ).toMatchObject({ reason: 'login-form' });
  });

  it('does not fire on ordinary logged-in pages: forms without a password, change-password, re-enter password, JSON', async () => {
    const detect = detectors.loginPage();
    const pages = [
      '<h1>Appointments</h1><form method="post" action="/appointments"><input name="slot"><button>Book</button></form><form method="post" action="/logout"><button>Log out</button></form>',
      '<h1>Change password</h1><form><input type="hidden" name="user" value="a"><input type="text" name="otp"><input type="password" name="old"><input type="password" name="new"><input type="password" name="again"></form>',
      '<h1>Confirm access</h1><form><input type="password" name="password"><button>Confirm</button></form>',
      '<form><input name="q" data-type="password"><input type="text" name="name"></form>',
      '<h1>Search</h1><form><input type="search" name="q"></form><p>Type your password in the box that says type="password".</p>',
    ];
    for (const body of pages) expect(await detect(answer({ body }))).toBeUndefined();
    expect(
      await detect(answer({ body: loginForm, contentType: 'application/json' })),
    ).toBeUndefined();
  });

  it('reads the markup from html() when the kind gives it (a browser: the DOM, not the visible text)', async () => {
    const detect = detectors.loginPage();
    const page = { ...answer({ body: 'Log in Username Password' }), html: async () => loginForm };
    expect(await detect(page)).toMatchObject({ reason: 'login-form' });
  });
});

describe('detectors.custom and runDetectors', () => {
  it('turns true into verdict `custom` and passes a verdict through', async () => {
    expect(await detectors.custom(() => true)(answer())).toEqual({ reason: 'custom' });
    expect(await detectors.custom(() => false)(answer())).toBeUndefined();
    expect(
      await detectors.custom(async (r) =>
        r.status === 200 ? { reason: 'api-error', detail: 'not_authenticated' } : undefined,
      )(answer()),
    ).toEqual({ reason: 'api-error', detail: 'not_authenticated' });
  });

  it('runs in order, stops at the first verdict (the body unread when a status decided), and survives a throwing detector', async () => {
    const errors: unknown[] = [];
    const page = answer({ status: 401, body: 'session expired' });
    const verdict = await runDetectors(
      [
        () => {
          throw new Error('buggy detector');
        },
        detectors.status(),
        detectors.text(),
      ],
      page,
      (e) => errors.push(e),
    );
    expect(verdict).toEqual({ reason: 'status-401' });
    expect(page.reads()).toBe(0);
    expect(errors).toHaveLength(1);
  });
});
