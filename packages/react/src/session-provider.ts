import type { SessionClient, SessionState } from '@sessionkeeper/client';
import {
  createContext,
  createElement,
  type ReactNode,
  useContext,
  useSyncExternalStore,
} from 'react';

const SessionContext = createContext<SessionClient | null>(null);

/** Makes `client` available to `useSession()` and the expiry warning below it. */
export function SessionProvider(props: { client: SessionClient; children?: ReactNode }): ReactNode {
  return createElement(SessionContext.Provider, { value: props.client }, props.children);
}

export interface UseSession extends SessionState {
  client: SessionClient;
  /** The client's fetch (attaches the token, refreshes, retries). */
  fetch: SessionClient['fetch'];
  /** "Stay signed in". */
  extend: () => Promise<boolean>;
  logout: () => Promise<void>;
}

/** The session's state, re-rendered on every change (refresh, warning tick, logout). */
export function useSession(): UseSession {
  const client = useContext(SessionContext);
  if (!client) throw new Error('useSession() needs a <SessionProvider client={…}> above it');
  const state = useSyncExternalStore(
    (onChange) => client.on('change', onChange),
    () => client.getState(),
    () => client.getState(),
  );
  return {
    ...state,
    client,
    fetch: client.fetch,
    extend: () => client.extend(),
    logout: () => client.logout(),
  };
}

export interface ExpiryWarning {
  /** True while the session will end within the client's `warnBeforeSeconds`. */
  expiring: boolean;
  secondsLeft: number | undefined;
  extend: () => Promise<boolean>;
}

export function useExpiryWarning(): ExpiryWarning {
  const session = useSession();
  return {
    expiring: session.status === 'expiring',
    secondsLeft: session.secondsLeft,
    extend: session.extend,
  };
}
