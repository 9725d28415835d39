// The React bindings rendered by react-dom/server with a real client against a real server: what
// an app that renders on the server (or in a test without a DOM) gets. Re-rendering on changes is
// tested in Chromium (browser.test.ts), where it actually happens.
import { createElement, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import {
  SessionExpiryWarning,
  SessionProvider,
  useExpiryWarning,
  useSession,
} from '../../packages/react/src/index.js';
import { clientFixtures } from './node-fixtures.js';

const { server, client } = clientFixtures();

function Probe(): ReactNode {
  const session = useSession();
  const warning = useExpiryWarning();
  return createElement('output', {
    'data-status': session.status,
    'data-expiring': String(warning.expiring),
    'data-seconds': warning.secondsLeft ?? '',
  });
}

describe('the React bindings on the server', () => {
  it('render the client state: active, then expiring with the warning and its seconds', async () => {
    const api = await server();
    let now = Date.now();
    const sk = client({ baseUrl: api.url, now: () => now, warnBeforeSeconds: 60 });
    const render = () =>
      renderToString(
        createElement(
          SessionProvider,
          { client: sk },
          createElement(Probe),
          createElement(SessionExpiryWarning, { message: 'Signing out in', buttonLabel: 'Stay' }),
        ),
      );
    expect(render()).toBe(
      '<output data-status="none" data-expiring="false" data-seconds=""></output>',
    );
    sk.setTokens(await api.login());
    expect(render()).toContain('data-status="active" data-expiring="false" data-seconds="1800"');
    expect(render()).not.toContain('alertdialog');

    now += (1800 - 42) * 1000;
    sk.check();
    const html = render();
    expect(html).toContain('data-status="expiring" data-expiring="true" data-seconds="42"');
    expect(html).toMatch(/role="alertdialog"/);
    expect(html).toContain('Signing out in <span data-seconds-left="">42</span> s');
    expect(html).toContain('<button type="button">Stay</button>');
  });

  it('useSession without a SessionProvider says what is missing', () => {
    expect(() => renderToString(createElement(Probe))).toThrow(
      'useSession() needs a <SessionProvider client={…}> above it',
    );
  });
});
