import { afterEach } from 'vitest';
import {
  type FakeUpstream,
  type FakeUpstreamOptions,
  startFakeUpstream,
} from '../../examples/shared/fake-upstream.js';
import { type HttpClient, httpSessionKind } from '../../packages/pool/src/index.js';

const open: FakeUpstream[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((site) => site.close()));
});

/** A fake appointment site on 127.0.0.1:0, closed after the test. */
export async function startSite(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const site = await startFakeUpstream(options);
  open.push(site);
  return site;
}

/** Logs in through the real form; throws when the site does not answer with a signed-in page. */
export async function formLogin(client: HttpClient): Promise<void> {
  const response = await client.fetch('/login', {
    method: 'POST',
    form: { username: client.key, password: 'secret' },
  });
  const page = await response.text();
  if (signedInAs(page) !== client.key) {
    throw new Error(`login as ${client.key} failed: ${response.status} ${response.url}`);
  }
}

/** The HTTP kind for the fake site, logging in with the form. */
export function siteKind(site: FakeUpstream, options: { concurrency?: number } = {}) {
  return httpSessionKind({
    baseUrl: site.url,
    login: formLogin,
    probePath: '/account',
    ...options,
  });
}

/** Who a page says is signed in, or undefined on any other page (an expiry page, the login form). */
export function signedInAs(page: string): string | undefined {
  return /class="signed-in">Signed in as <b data-user="([^"]+)"/.exec(page)?.[1];
}

export interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** A promise the test resolves when it chooses: holds an operation at a known point. */
export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Resolves with the first event `name` the pool emits (or rejects after `seconds`). */
export function nextEvent<T>(on: (listener: (event: T) => void) => void, seconds = 10): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no event within ${seconds} s`)),
      seconds * 1000,
    );
    on((event) => {
      clearTimeout(timer);
      resolve(event);
    });
  });
}
